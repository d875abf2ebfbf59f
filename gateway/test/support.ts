import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { InProcessBus } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { createLogger } from '@platform/telemetry';
import { generateSigningKey } from '@platform/auth';
import { freshDatabase, TEST_REDIS_URL, TEST_SECRET } from '@platform/testing';
import { identityService, readConfig as readIdentityConfig } from '@platform/service-identity';
import { readConfig, startGateway, RunningGateway, SERVICE_NAMES, ServiceName, StartGatewayOptions } from '../src';

export const BOOTSTRAP_ADMIN = `acf_GatewayAdmin0001:sec_${'Gw0Admin9z'.repeat(4)}`;
/** Identity's user-token keys in these tests: gw-k2 signs, gw-k1 (the previous key) still verifies. */
export const JWT_KEYS = [generateSigningKey('gw-k2'), generateSigningKey('gw-k1')];

export interface Stub {
  name: string;
  url: string;
  port: number;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[];
  close(): Promise<void>;
}

/** A stand-in service: records what reached it and answers with who it is. */
export async function startStub(name: string, port = 0): Promise<Stub> {
  const requests: Stub['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ service: name, method: req.method, url: req.url }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    name,
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Stack {
  bus: InProcessBus;
  identity: RunningService<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  stubs: Record<Exclude<ServiceName, 'identity'>, Stub>;
  gateway: RunningGateway;
  url: string;
  /** Starts another gateway on the same identity, bus and stubs with extra settings (and start options, e.g. a rate-limit store). */
  gatewayWith(env: Record<string, string>, opts?: Omit<StartGatewayOptions, 'inProcessBus' | 'logger'>): Promise<RunningGateway>;
  stop(): Promise<void>;
}

/** The real identity service on a fresh database, stub upstreams for the rest, the gateway in front. */
export async function startStack(prefix: string, gatewayEnv: Record<string, string> = {}): Promise<Stack> {
  const db = await freshDatabase(prefix);
  const bus = new InProcessBus();
  const identity = await startService(
    identityService,
    readIdentityConfig({
      DATABASE_URL: db.url,
      INTERNAL_TOKEN_SECRET: TEST_SECRET,
      KEY_HASH_SECRET: 'gateway-test-pepper-0123456789abcdefghijkl',
      PORT: '0',
      LOG_LEVEL: 'silent',
      OUTBOX_POLL_MS: '20',
      BOOTSTRAP_ADMIN_KEY: BOOTSTRAP_ADMIN,
      JWT_SIGNING_KEYS: JSON.stringify(JWT_KEYS),
    }),
    { inProcessBus: bus, logger: createLogger('identity', 'silent') },
  );
  const stubs = {} as Stack['stubs'];
  for (const name of SERVICE_NAMES) if (name !== 'identity') stubs[name] = await startStub(name);

  const redisPrefix = `gwtest:${randomBytes(4).toString('hex')}:`;
  const baseEnv: Record<string, string> = {
    PORT: '0',
    INTERNAL_TOKEN_SECRET: TEST_SECRET,
    LOG_LEVEL: 'silent',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    // High enough that the suite's own traffic from 127.0.0.1 never trips it.
    RATE_LIMIT_IP_PER_MIN: '100000',
    RATE_LIMIT_IP_BURST: '100000',
    IDENTITY_URL: identity.url,
    ...Object.fromEntries(Object.values(stubs).map((s) => [`${s.name.toUpperCase()}_URL`, s.url])),
  };
  const started: RunningGateway[] = [];
  const gatewayWith = async (env: Record<string, string>, opts: Omit<StartGatewayOptions, 'inProcessBus' | 'logger'> = {}) => {
    const g = await startGateway(readConfig({ ...baseEnv, ...env }), { ...opts, inProcessBus: bus, logger: createLogger('gateway', 'silent') });
    started.push(g);
    return g;
  };
  const gateway = await gatewayWith(gatewayEnv);
  return {
    bus,
    identity,
    stubs,
    gateway,
    url: gateway.url,
    gatewayWith,
    async stop() {
      for (const g of started) await g.stop();
      for (const s of Object.values(stubs)) await s.close();
      await identity.stop();
      await db.drop();
    },
  };
}

export async function call(url: string, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' || opts.body instanceof Buffer ? (opts.body as string) : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, body, headers: res.headers };
}

/** A buyer key made through the gateway (spec 002: no auth needed). */
export async function newBuyerKey(url: string, owner: string, rateLimit = 60) {
  const res = await call(url, 'POST', '/api/v1/keys', { body: { owner_id: owner, role: 'buyer', rate_limit: rateLimit } });
  if (res.status !== 201) throw new Error(`cannot create key: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...(res.body as { key_id: string; secret: string }), bearer: `Bearer ${res.body.key_id}:${res.body.secret}` };
}
