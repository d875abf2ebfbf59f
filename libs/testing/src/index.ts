import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { ensureDatabase, dropDatabase } from '@platform/db';

/** The PostgreSQL server tests use; a fresh database per suite is created on it. */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_KAFKA_BROKERS = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const TEST_SECRET = 'test-internal-token-secret-0123456789abcdef';

export async function freshDatabase(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `t_${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`.toLowerCase();
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  return { url: url.toString(), drop: () => dropDatabase(url.toString()) };
}

export interface Upstream {
  url: string;
  port: number;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** A local provider API: records what reached it and answers with the handler's reply. */
export async function startUpstream(
  handler: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void = (_req, body, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, echo: body || null }));
  },
): Promise<Upstream> {
  const requests: Upstream['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Polls until the check passes or the deadline is hit; for eventual consistency in tests. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export { startStripeStandIn, parseStripeForm, STRIPE_TEST_PAYMENT_METHODS } from './stripe-standin';
export type { StripeStandIn, StripeStandInOptions, StripeEvent, Delivery as StripeDelivery } from './stripe-standin';
