import http from 'node:http';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

/** Target C: Express with http-proxy-middleware and nothing else, over a keep-alive agent. */
const app = express();
app.disable('x-powered-by');
app.use(createProxyMiddleware({ target: process.env.UPSTREAM_URL!, agent: new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512 }) }));

const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
