import http from 'node:http';
import net from 'node:net';
import { PrincipalTokenCache } from '@platform/auth';
import { createLogger } from '@platform/telemetry';
import { eventually } from '@platform/testing';
import { createServiceProxies, prepareHeaders, Forward, ServiceProxies } from '../src/proxy';
import { ROUTES, SERVICE_NAMES, ServiceName } from '../src/routes';

/**
 * The node:http forwarder on its own (loopback only): a front server hands every request to it
 * for the `webhooks` service, as the gateway's lean path does after its checks.
 */

const route = ROUTES.find((r) => r.pattern === '/api/v1/webhooks*')!;
const tokens = new PrincipalTokenCache('forwarder-test-secret-0123456789abcdef');

interface Upstream {
  url: string;
  server: http.Server;
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer; aborted: boolean }[];
  close(): Promise<void>;
}

async function listenOn(server: http.Server | net.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** An upstream whose answer the test decides; records what reached it. */
async function upstream(answer: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void = (_q, s) => s.end('ok')): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0), aborted: false };
    seen.push(entry);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => (entry.aborted = !req.complete));
    res.on('close', () => (entry.aborted ||= !res.writableFinished));
    req.on('end', () => {
      entry.body = Buffer.concat(chunks);
      answer(req, res, entry.body);
    });
  });
  const url = await listenOn(server);
  return {
    url,
    server,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function front(upstreamUrl: string, timeoutMs = 5_000): Promise<{ url: string; proxies: ServiceProxies; close(): Promise<void> }> {
  const upstreams = Object.fromEntries(SERVICE_NAMES.map((s) => [s, [upstreamUrl]])) as Record<ServiceName, string[]>;
  const proxies = createServiceProxies({ upstreams, timeoutMs, logger: createLogger('forwarder-test', 'silent') });
  const server = http.createServer((req, res) => {
    res.setHeader('X-Request-ID', 'rid-1');
    const f: Forward = { route, requestId: 'rid-1', clientRequestId: null, principal: null, consumedCredential: false };
    prepareHeaders(req, f, tokens);
    proxies.forward('webhooks', req, res, f);
  });
  server.keepAliveTimeout = 65_000;
  const url = await listenOn(server);
  return {
    url,
    proxies,
    close: () =>
      new Promise<void>((r) => {
        proxies.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A raw HTTP/1.1 exchange, to send and see exactly the bytes fetch would normalise away. */
function raw(url: string, request: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    // Written, not ended: node's server drops a request whose client half-closed. `Connection: close` ends the exchange.
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

describe('the gateway forwarder (node:http over keep-alive agents)', () => {
  it('drops hop-by-hop headers both ways, keeps the rest, and adds X-Forwarded-* as before', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(201, 'Made', { 'content-type': 'text/plain', 'x-up': 'yes', connection: 'keep-alive, x-secret-hop', 'x-secret-hop': 'hop', 'keep-alive': 'timeout=5', 'set-cookie': ['a=1', 'b=2'], 'content-length': '4' });
      res.end('made');
    });
    const gw = await front(up.url);
    try {
      const answer = await raw(
        gw.url,
        'POST /api/v1/webhooks//hooks?x=1 HTTP/1.1\r\nHost: gw.example:8443\r\nConnection: close, x-client-hop, x-request-id, traceparent, content-length\r\nX-Client-Hop: 1\r\nKeep-Alive: timeout=9\r\n' +
          'TE: trailers\r\nX-Forwarded-For: 203.0.113.7\r\nX-Custom: kept\r\nContent-Length: 5\r\n\r\nhello',
      );
      const [head, body] = answer.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 201 Made\r\n/);
      expect(body).toBe('made');
      expect(head).toMatch(/\r\nx-up: yes/i);
      expect(head.match(/\r\nset-cookie: /gi)).toHaveLength(2);
      expect(head).not.toMatch(/x-secret-hop|keep-alive: timeout=5/i);
      expect(head).toMatch(/\r\nX-Request-ID: rid-1/i);

      const seen = up.seen[0];
      expect(seen.url).toBe('/api/v1/webhooks/hooks?x=1');
      expect(seen.body.toString()).toBe('hello');
      expect(seen.headers['x-custom']).toBe('kept');
      expect(seen.headers['x-client-hop']).toBeUndefined();
      expect(seen.headers.te).toBeUndefined();
      expect(seen.headers['keep-alive']).toBeUndefined();
      expect(seen.headers.connection).toBe('keep-alive');
      expect(seen.headers.host).toBe('gw.example:8443');
      expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7,127.0.0.1');
      expect(seen.headers['x-forwarded-port']).toBe('8443');
      expect(seen.headers['x-forwarded-proto']).toBe('http');
      expect(seen.headers['x-forwarded-host']).toBe('gw.example:8443');
      expect(seen.headers['x-request-id']).toBe('rid-1');
      expect(seen.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('streams both ways: a chunked upload arrives whole and the answer reaches the client before the service finishes', async () => {
    let finish!: () => void;
    const up = await upstream((_req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(`got ${body.length} bytes;`);
      finish = () => res.end('done');
    });
    const gw = await front(up.url);
    try {
      const parts = [Buffer.alloc(70_000, 1), Buffer.alloc(90_000, 2)];
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request(`${gw.url}/api/v1/webhooks/upload`, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, resolve);
        req.on('error', reject);
        req.write(parts[0]);
        setTimeout(() => req.end(parts[1]), 20);
      });
      expect(res.statusCode).toBe(200);
      const first = await new Promise<string>((resolve) => res.once('data', (c: Buffer) => resolve(c.toString())));
      expect(first).toBe('got 160000 bytes;');
      expect(up.seen[0].body.equals(Buffer.concat(parts))).toBe(true);
      expect(up.seen[0].headers['transfer-encoding']).toBe('chunked');
      const rest: Buffer[] = [];
      res.on('data', (c: Buffer) => rest.push(c));
      const ended = new Promise((r) => res.on('end', r));
      finish();
      await ended;
      expect(Buffer.concat(rest).toString()).toBe('done');
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('aborts the service request when the client goes away, and cuts the client off when the service breaks mid-answer', async () => {
    const up = await upstream((req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      if (req.url?.endsWith('/break')) setTimeout(() => res.socket?.destroy(), 20);
    });
    const gw = await front(up.url);
    try {
      // The client leaves while the answer is still streaming: the service's request is closed too.
      await new Promise<void>((resolve, reject) => {
        const req = http.get(`${gw.url}/api/v1/webhooks/slow`, (res) => res.once('data', () => (req.destroy(), resolve())));
        req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
      });
      await eventually(async () => up.seen[0]?.aborted === true, 2_000);

      // The service dies after 7 of 100 bytes: the client must not see a clean end.
      const outcome = await new Promise<string>((resolve) => {
        http
          .get(`${gw.url}/api/v1/webhooks/break`, (res) => {
            res.on('data', () => undefined);
            res.on('end', () => resolve('clean end'));
            res.on('aborted', () => resolve('cut off'));
            res.on('error', () => resolve('cut off'));
          })
          .on('error', () => resolve('cut off'));
      });
      expect(outcome).toBe('cut off');
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('resends a body-less request once when its pooled connection was closed under it; never one with a body', async () => {
    // Answers the first request on each connection, then drops the connection at the next one.
    const perSocket = new WeakMap<net.Socket, number>();
    const up = await upstream((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (n > 1) return void req.socket.destroy();
      res.end(`fresh ${req.method}`);
    });
    const gw = await front(up.url);
    const send = (method: string, body?: string) => fetch(`${gw.url}/api/v1/webhooks/x`, { method, body }).then(async (r) => ({ status: r.status, text: await r.text() }));
    try {
      expect(await send('GET')).toEqual({ status: 200, text: 'fresh GET' });
      // The pooled connection is reused and dropped: the GET goes again on a new one.
      expect(await send('GET')).toEqual({ status: 200, text: 'fresh GET' });
      expect(up.seen.filter((s) => s.method === 'GET')).toHaveLength(3);
      // Same for a POST with a body: its bytes are gone, so it fails as the service being unavailable.
      const post = await send('POST', '{"a":1}');
      expect(post.status).toBe(503);
      expect(JSON.parse(post.text)).toEqual({ detail: 'webhooks service is unavailable', request_id: 'rid-1' });
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('answers 504 in the route family when the service sends nothing in time, and the client connection stays usable', async () => {
    const up = await upstream(() => undefined);
    const gw = await front(up.url, 200);
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = () =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          http
            .request(`${gw.url}/api/v1/webhooks/hang`, { method: 'POST', agent, headers: { 'content-length': '3' } }, (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
            })
            .on('error', reject)
            .end('abc');
        });
      const first = await get();
      expect(first.status).toBe(504);
      expect(JSON.parse(first.body)).toEqual({ detail: 'webhooks service did not answer in time', request_id: 'rid-1' });
      expect((await get()).status).toBe(504);
      agent.destroy();
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
