import { InProcessBus } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { signPrincipal, serviceToken, Principal } from '@platform/auth';
import { walletsService, readConfig } from '../src';
import type { Db } from '../src/db/client';

export interface Wallets {
  svc: RunningService<Db>;
  bus: InProcessBus;
  url: string;
  stop(): Promise<void>;
}

/** Wallets on a fresh PostgreSQL database with an in-process bus, as standalone mode runs it. */
export async function startWallets(opts: { devRoutes?: boolean; env?: Record<string, string> } = {}): Promise<Wallets> {
  const db = await freshDatabase('wallets');
  const bus = new InProcessBus();
  const config = readConfig({
    DATABASE_URL: db.url,
    INTERNAL_TOKEN_SECRET: TEST_SECRET,
    PORT: '0',
    LOG_LEVEL: process.env.WALLETS_TEST_LOG ?? 'silent',
    DEV_ROUTES: opts.devRoutes === false ? 'false' : 'true',
    ...(opts.env ?? {}),
  });
  const svc = await startService(walletsService, config, { inProcessBus: bus, logger: createLogger('wallets', process.env.WALLETS_TEST_LOG ?? 'silent') });
  return {
    svc,
    bus,
    url: svc.url,
    async stop() {
      await svc.stop();
      await bus.close();
      await db.drop();
    },
  };
}

const tokens = new Map<string, string>();
/** Tokens are signed once per principal, as the gateway's cache does; signing is not what these tests measure. */
const cached = (key: string, sign: () => string) => tokens.get(key) ?? (tokens.set(key, sign()), tokens.get(key)!);

/** Headers a gateway would send for an acf_ buyer key owned by `ownerId`. */
export function asBuyer(ownerId: string): Record<string, string> {
  const p: Principal = { owner_id: ownerId, kind: 'acf_key', key_id: `acf_${ownerId}`, roles: ['buyer'], org_id: null, rate_limit: 60 };
  return { 'x-internal-principal': cached(`buyer:${ownerId}`, () => signPrincipal(p, TEST_SECRET, 600)) };
}

/** Headers of a service-to-service call (metering calling wallets). */
export const asService = (): Record<string, string> => ({ 'x-internal-principal': cached('service', () => serviceToken('metering', TEST_SECRET)) });

export interface Reply {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export async function call(url: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* non-JSON answers stay text */
  }
  return { status: res.status, headers: res.headers, body };
}

export const fund = (w: Wallets, ownerId: string, amount: string, idempotencyKey?: string) =>
  call(`${w.url}/dev/balance/fund`, { body: { amount }, headers: { ...asBuyer(ownerId), ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) } });

export const debit = (w: Wallets, d: { usage_id: string; buyer_id: string; amount_micros: string; provider_id?: string; service_id?: string }) =>
  call(`${w.url}/internal/debits`, { body: { provider_id: 'prov-1', service_id: 'svc-1', ...d }, headers: asService() });

export const refund = (w: Wallets, usageId: string) => call(`${w.url}/internal/refunds`, { body: { usage_id: usageId }, headers: asService() });

export const internalBalance = async (w: Wallets, ownerId: string): Promise<string> =>
  (await call(`${w.url}/internal/balances/${encodeURIComponent(ownerId)}`, { headers: asService() })).body.balance_micros;

/** Rows that would break double entry: entries whose postings do not sum to zero. */
export async function unbalancedEntries(db: Db): Promise<number> {
  const rows = await db.$queryRawUnsafe<{ n: bigint }[]>(
    `SELECT count(*)::bigint AS n FROM (
       SELECT e."id" FROM "ledger_entries" e LEFT JOIN "ledger_postings" p ON p."entry_id" = e."id"
       GROUP BY e."id" HAVING COALESCE(SUM(p."amount"), 0) <> 0 OR count(p."entry_id") < 2) x`,
  );
  return Number(rows[0].n);
}

/** Accounts whose cached balance differs from the sum of their postings. */
export async function driftedAccounts(db: Db): Promise<number> {
  const rows = await db.$queryRawUnsafe<{ n: bigint }[]>(
    `SELECT count(*)::bigint AS n FROM "ledger_accounts" a
     WHERE a."balance" <> COALESCE((SELECT SUM(p."amount") FROM "ledger_postings" p WHERE p."account_id" = a."id"), 0)`,
  );
  return Number(rows[0].n);
}

export async function ledgerCounts(db: Db) {
  const [entries, postings, outbox, accounts] = await Promise.all([db.ledgerEntry.count(), db.ledgerPosting.count(), db.outboxEvent.count(), db.ledgerAccount.count()]);
  return { entries, postings, outbox, accounts };
}
