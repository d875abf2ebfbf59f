import { InProcessBus } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { serviceToken, signPrincipal, generateSigningKey, INTERNAL_PRINCIPAL_HEADER, Principal } from '@platform/auth';
import { identityService, readConfig } from '../src';
import type { Db } from '../src/db/client';

export const KEY_HASH_SECRET = 'test-key-hash-pepper-0123456789abcdefghij';
/** The ES256 key identity signs user tokens with in tests (JWT_SIGNING_KEYS). */
export const TEST_JWT_KEY = generateSigningKey('test-k1');
export const BOOTSTRAP = { keyId: 'acf_B00tstrapAdmin01', secret: `sec_${'A1b2C3d4E5'.repeat(4)}` };

export interface Identity {
  svc: RunningService<Db>;
  bus: InProcessBus;
  url: string;
  stop(): Promise<void>;
  env: Record<string, string>;
}

export async function startIdentity(prefix: string, extra: Record<string, string> = {}): Promise<Identity> {
  const db = await freshDatabase(prefix);
  const bus = new InProcessBus();
  const env = {
    DATABASE_URL: db.url,
    INTERNAL_TOKEN_SECRET: TEST_SECRET,
    KEY_HASH_SECRET,
    PORT: '0',
    LOG_LEVEL: 'silent',
    OUTBOX_POLL_MS: '20',
    BOOTSTRAP_ADMIN_KEY: `${BOOTSTRAP.keyId}:${BOOTSTRAP.secret}`,
    JWT_SIGNING_KEYS: JSON.stringify([TEST_JWT_KEY]),
    ...extra,
  };
  const svc = await startService(identityService, readConfig(env), { inProcessBus: bus, logger: createLogger('identity', 'silent') });
  return {
    svc,
    bus,
    url: svc.url,
    env,
    async stop() {
      await svc.stop();
      await db.drop();
    },
  };
}

export const serviceHeaders = () => ({ [INTERNAL_PRINCIPAL_HEADER]: serviceToken('gateway', TEST_SECRET) });

/** Asks identity who a credential is, as the gateway would, and signs that principal the way the gateway does. */
export async function principalFor(url: string, credential: string): Promise<Principal> {
  const res = await fetch(`${url}/internal/credentials/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...serviceHeaders() },
    body: JSON.stringify({ credential }),
  });
  if (res.status !== 200) throw new Error(`credential refused: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { principal: Principal }).principal;
}

export async function asCaller(url: string, credential: string): Promise<Record<string, string>> {
  return { [INTERNAL_PRINCIPAL_HEADER]: signPrincipal(await principalFor(url, credential), TEST_SECRET) };
}

export async function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

/** Every table row count, to show a refused request changed nothing. */
export async function snapshot(db: Db) {
  return {
    keys: await db.apiKey.count(),
    orgs: await db.organization.count(),
    projects: await db.project.count(),
    envs: await db.environment.count(),
    agents: await db.agent.count(),
    outbox: await db.outboxEvent.count(),
  };
}

export async function stagedEvents(db: Db, type: string) {
  const rows = await db.outboxEvent.findMany({ where: { type }, orderBy: { seq: 'asc' } });
  return rows.map((r) => r.envelope as { type: string; subject: string; data: Record<string, unknown> });
}
