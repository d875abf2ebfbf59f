import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { InProcessBus, createEnvelope, AnyEnvelope, EventData } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, eventually, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { signPrincipal, Principal } from '@platform/auth';
import { meteringService, readConfig } from '../../src';
import type { Db } from '../../src/db/client';
import { startWalletsStandIn, WalletsStandIn } from './wallets-stand-in';

export interface Metering {
  svc: RunningService<Db>;
  bus: InProcessBus;
  wallets: WalletsStandIn;
  /** Publishes a marketplace event for a service and waits until metering's price list shows it. */
  publishService(over: Partial<ServiceData>, type?: 'service.registered' | 'service.updated' | 'service.removed', time?: Date): Promise<ServiceData>;
  stop(): Promise<void>;
}

export type ServiceData = EventData<'service.registered'>;

export async function startMetering(env: Record<string, string> = {}): Promise<Metering> {
  const wallets = await startWalletsStandIn();
  const bus = new InProcessBus();
  const db = await freshDatabase('metering');
  const config = readConfig({
    DATABASE_URL: db.url,
    INTERNAL_TOKEN_SECRET: TEST_SECRET,
    PORT: '0',
    LOG_LEVEL: 'silent',
    OUTBOX_POLL_MS: '20',
    WALLETS_URL: wallets.url,
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    ...env,
  });
  const svc = await startService(meteringService, config, { inProcessBus: bus, logger: createLogger('metering', 'silent') });

  async function publishService(over: Partial<ServiceData>, type: 'service.registered' | 'service.updated' | 'service.removed' = 'service.registered', time?: Date) {
    const data: ServiceData = {
      service_id: randomUUID(),
      provider_id: 'provider-1',
      name: 'Test API',
      endpoint: 'https://api.example.com',
      price_micros: '50000',
      payment_method: 'x402',
      free_tier_calls: 0,
      status: 'active',
      category: 'ai',
      tags: [],
      ...over,
    };
    const e = createEnvelope('marketplace', type, data.service_id, data) as AnyEnvelope;
    if (time) e.time = time.toISOString();
    await bus.publish([e]);
    await eventually(async () => (await svc.db.processedEvent.count({ where: { eventId: e.id } })) === 1);
    return data;
  }

  return {
    svc,
    bus,
    wallets,
    publishService,
    stop: async () => {
      await svc.stop();
      await wallets.close();
      await db.drop();
    },
  };
}

export const principal = (owner_id: string, role = 'buyer'): Principal => ({
  owner_id,
  kind: 'acf_key',
  key_id: `acf_${owner_id}`,
  roles: [role],
  org_id: null,
  rate_limit: 60,
});

export interface ProxyReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): any;
}

/**
 * A request as the gateway forwards it (principal signed in X-Internal-Principal), sent with
 * node:http so tests control every header and can stream the body in chunks.
 */
export function request(
  base: string,
  method: string,
  path: string,
  opts: { as?: Principal; headers?: Record<string, string>; body?: string | Buffer; chunks?: (string | Buffer)[] } = {},
): Promise<ProxyReply> {
  // The path goes out verbatim: URL() would resolve the dot segments the proxy must see and refuse.
  const url = new URL(base);
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.as) headers['x-internal-principal'] = signPrincipal(opts.as, TEST_SECRET);
  if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

export async function calledEvents(svc: RunningService<Db>) {
  const rows = await svc.db.outboxEvent.findMany({ where: { type: 'service.called' }, orderBy: { seq: 'asc' } });
  return rows.map((r) => (r.envelope as unknown as AnyEnvelope & { type: 'service.called' }).data as EventData<'service.called'>);
}

/** A port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
