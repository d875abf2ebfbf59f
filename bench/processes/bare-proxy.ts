import http from 'node:http';

/**
 * Target B: the least a Node reverse proxy can do. node:http in front of the upstream over a
 * keep-alive agent; hop-by-hop headers dropped both ways, bodies piped, nothing else.
 */
const upstream = new URL(process.env.UPSTREAM_URL!);
const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512 });
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'];

const server = http.createServer((req, res) => {
  const headers = { ...req.headers };
  for (const h of HOP) delete headers[h];
  const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (up) => {
    const back = { ...up.headers };
    for (const h of HOP) delete back[h];
    res.writeHead(up.statusCode ?? 502, back);
    up.pipe(res);
  });
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(out);
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
