import http from 'node:http';

/**
 * Target A: the provider API every path ends at. Answers any request with a small JSON body
 * once the request body has been read. Keep-alive idle timeout as long as the platform's own
 * servers (65 s), so pooled connections are never closed under a proxy between rounds.
 */
const BODY = Buffer.from(JSON.stringify({ ok: true, result: { sentiment: 'positive', score: 0.93 } }));

const server = http.createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(BODY.length) });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
