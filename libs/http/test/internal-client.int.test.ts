import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { INTERNAL_PRINCIPAL_HEADER, verifyPrincipal } from '@platform/auth';
import { AppError, InternalClient } from '../src';

const SECRET = 'internal-client-test-secret-0123456789';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real server on 127.0.0.1:0 that records each request and counts TCP connections. */
async function startServer(handler: (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void) {
  const seen: Seen[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      handler(req, res, s);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Server = Awaited<ReturnType<typeof startServer>>;

function clientFor(baseUrl: string, timeoutMs?: number) {
  return new InternalClient({ baseUrl, service: 'metering', secret: SECRET, timeoutMs, target: 'wallets' });
}

async function caught(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected the request to fail');
}

describe('InternalClient over node:http', () => {
  let server: Server | undefined;
  let client: InternalClient | undefined;
  afterEach(async () => {
    client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  it('sends JSON with the service token and parses a JSON reply', async () => {
    server = await startServer((_req, res, s) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ echoed: JSON.parse(s.body), amount_micros: '25000000' }));
    });
    client = clientFor(server.url);
    const r = await client.request<{ echoed: unknown; amount_micros: string }>('POST', '/internal/debits', { usage_id: 'u_1', amount_micros: '25000000' });
    expect(r).toEqual({ status: 200, body: { echoed: { usage_id: 'u_1', amount_micros: '25000000' }, amount_micros: '25000000' } });
    const [s] = server.seen;
    expect(s.method).toBe('POST');
    expect(s.url).toBe('/internal/debits');
    expect(s.headers['content-type']).toBe('application/json');
    expect(s.headers['content-length']).toBe(String(Buffer.byteLength(s.body)));
    expect(s.headers['transfer-encoding']).toBeUndefined();
    const principal = verifyPrincipal(String(s.headers[INTERNAL_PRINCIPAL_HEADER]), SECRET);
    expect(principal?.owner_id).toBe('service:metering');
    expect(principal?.kind).toBe('internal');
  });

  it('passes caller headers along, x-request-id included', async () => {
    server = await startServer((_req, res) => res.end('{}'));
    client = clientFor(server.url);
    await client.request('POST', '/internal/refunds', { usage_id: 'u_2' }, { 'x-request-id': 'req_abc123' });
    expect(server.seen[0].headers['x-request-id']).toBe('req_abc123');
    expect(server.seen[0].headers[INTERNAL_PRINCIPAL_HEADER]).toEqual(expect.any(String));
  });

  it('sends an explicit zero length for a bodiless POST and none for a GET', async () => {
    server = await startServer((_req, res) => res.end('{}'));
    client = clientFor(server.url);
    await client.request('POST', '/internal/ping');
    await client.request('GET', '/internal/ping');
    expect(server.seen[0].headers['content-length']).toBe('0');
    expect(server.seen[0].body).toBe('');
    expect(server.seen[1].method).toBe('GET');
    expect(server.seen[1].headers['content-length']).toBeUndefined();
    expect(server.seen[1].headers['transfer-encoding']).toBeUndefined();
  });

  it('keeps a path prefix of the base URL', async () => {
    server = await startServer((_req, res) => res.end('{}'));
    client = clientFor(`${server.url}/wallets`);
    await client.request('GET', '/internal/agents/a%2Fb?x=1');
    expect(server.seen[0].url).toBe('/wallets/internal/agents/a%2Fb?x=1');
  });

  it('returns a body that is not JSON as text', async () => {
    server = await startServer((_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end('upstream said no ✗');
    });
    client = clientFor(server.url);
    expect(await client.request('GET', '/x')).toEqual({ status: 200, body: 'upstream said no ✗' });
  });

  it('returns undefined for an empty body', async () => {
    server = await startServer((_req, res) => {
      res.statusCode = 204;
      res.end();
    });
    client = clientFor(server.url);
    expect(await client.request('POST', '/x', {})).toEqual({ status: 204, body: undefined });
  });

  it('passes any status through with its body', async () => {
    server = await startServer((_req, res) => {
      res.statusCode = 402;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ detail: 'Insufficient balance', errors: { reason: 'insufficient_funds' } }));
    });
    client = clientFor(server.url);
    expect(await client.request('POST', '/internal/debits', { usage_id: 'u_3' })).toEqual({
      status: 402,
      body: { detail: 'Insufficient balance', errors: { reason: 'insufficient_funds' } },
    });
  });

  it('gives up with GATEWAY_TIMEOUT when the server never answers, and drops the socket', async () => {
    server = await startServer(() => undefined);
    client = clientFor(server.url, 200);
    const started = Date.now();
    const err = await caught(client.request('POST', '/internal/debits', { usage_id: 'u_4' }));
    const took = Date.now() - started;
    expect(err.code).toBe('GATEWAY_TIMEOUT');
    expect(err.status).toBe(504);
    expect(err.message).toBe('wallets service is not answering in time');
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(2_000);
    // The next call cannot reuse the abandoned socket: it opens a second connection.
    await caught(client.request('POST', '/internal/debits', { usage_id: 'u_5' }));
    expect(server.connections()).toBe(2);
  });

  it('counts the body against the same deadline', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
    });
    client = clientFor(server.url, 200);
    const err = await caught(client.request('GET', '/slow-body'));
    expect(err.code).toBe('GATEWAY_TIMEOUT');
  });

  it('fails with UNAVAILABLE when nothing listens', async () => {
    const closed = await startServer(() => undefined);
    const url = closed.url;
    await closed.close();
    client = clientFor(url, 2_000);
    const err = await caught(client.request('POST', '/internal/debits', { usage_id: 'u_6' }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.status).toBe(503);
    expect(err.message).toBe('wallets service is unavailable');
  });

  it('fails with UNAVAILABLE when the connection drops before or after the response head', async () => {
    server = await startServer((req, res) => {
      if (req.url === '/before') {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":', () => req.socket.destroy());
    });
    client = clientFor(server.url, 2_000);
    expect((await caught(client.request('POST', '/before', {}))).code).toBe('UNAVAILABLE');
    expect((await caught(client.request('POST', '/after', {}))).code).toBe('UNAVAILABLE');
  });

  it('reuses one kept-alive socket for sequential requests', async () => {
    server = await startServer((_req, res, s) => res.end(s.body));
    client = clientFor(server.url);
    for (let i = 0; i < 10; i++) {
      const r = await client.request<{ i: number }>('POST', '/internal/debits', { i });
      expect(r.body).toEqual({ i });
    }
    expect(server.seen).toHaveLength(10);
    expect(server.connections()).toBe(1);
  });

  it('runs concurrent requests on parallel sockets and pools them afterwards', async () => {
    server = await startServer((_req, res, s) => setTimeout(() => res.end(s.body), 20));
    client = clientFor(server.url);
    const first = await Promise.all(Array.from({ length: 8 }, (_, i) => client!.request<{ i: number }>('POST', '/x', { i })));
    expect(first.map((r) => r.body.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const opened = server.connections();
    expect(opened).toBeGreaterThan(1);
    expect(opened).toBeLessThanOrEqual(8);
    await Promise.all(Array.from({ length: 8 }, (_, i) => client!.request('POST', '/x', { i })));
    expect(server.connections()).toBe(opened);
  });
});
