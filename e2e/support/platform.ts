import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freshDatabase, TEST_REDIS_URL } from '@platform/testing';
import { startStandalone, Standalone, SERVICE_NAMES } from '@platform/standalone';

/** The first admin key every test platform starts with (identity's BOOTSTRAP_ADMIN_KEY). */
export const ADMIN_KEY = `acf_ApiTestsAdmin001:sec_${'Ap1Adm1nZz'.repeat(4)}`;

export interface TestPlatform {
  /** The gateway's base URL: every request in these tests goes through it. */
  url: string;
  standalone: Standalone;
  stop(): Promise<void>;
}

/**
 * The whole platform in this process on real parts: every service on its own fresh
 * PostgreSQL database, the gateway's rate limits in real Redis (under a key prefix of its
 * own), the in-process bus between them. Spec-example suites in e2e/api run against it,
 * always through the gateway, as a client would.
 */
export async function startPlatform(prefix: string, env: Record<string, string> = {}): Promise<TestPlatform> {
  const dbs = await Promise.all(SERVICE_NAMES.map(async (name) => [name, await freshDatabase(`${prefix}_${name}`)] as const));
  const dataDir = mkdtempSync(path.join(tmpdir(), `platform-${prefix}-`));
  const standalone = await startStandalone({
    dataDir,
    basePort: 0,
    env: {
      LOG_LEVEL: 'silent',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `t:${prefix}:${randomBytes(4).toString('hex')}:`,
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      OUTBOUND_ALLOW_HOSTS: 'localhost,127.0.0.1',
      OUTBOX_POLL_MS: '20',
      // No embedded chain per suite; suites that need one pass CHAIN_RPC_URL etc. (startTestChain).
      STANDALONE_CHAIN: 'off',
      ...Object.fromEntries(dbs.map(([name, db]) => [`${name.toUpperCase()}_DATABASE_URL`, db.url])),
      ...env,
    },
  });
  return {
    url: standalone.url,
    standalone,
    async stop() {
      await standalone.stop();
      await Promise.all(dbs.map(([, db]) => db.drop().catch(() => undefined)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Reply<T = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  status: number;
  body: T;
  headers: Headers;
}

/** A JSON client for the gateway; `auth` is the value of the Authorization header (or a header map). */
export function client(baseUrl: string) {
  const send = async (method: string, urlPath: string, body?: unknown, auth?: string | Record<string, string>): Promise<Reply> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (typeof auth === 'string') headers.authorization = auth;
    else if (auth) Object.assign(headers, auth);
    const res = await fetch(`${baseUrl}${urlPath}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    get: (p: string, auth?: string | Record<string, string>) => send('GET', p, undefined, auth),
    post: (p: string, body?: unknown, auth?: string | Record<string, string>) => send('POST', p, body, auth),
    put: (p: string, body?: unknown, auth?: string | Record<string, string>) => send('PUT', p, body, auth),
    patch: (p: string, body?: unknown, auth?: string | Record<string, string>) => send('PATCH', p, body, auth),
    delete: (p: string, auth?: string | Record<string, string>) => send('DELETE', p, undefined, auth),
    send,
  };
}

export const bearer = (credential: string) => `Bearer ${credential}`;
