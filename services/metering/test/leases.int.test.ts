import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { freshDatabase, startUpstream, Upstream, eventually, TEST_KAFKA_BROKERS, TEST_REDIS_URL, TEST_SECRET } from '@platform/testing';
import { signPrincipal, Principal } from '@platform/auth';
import { ServiceProcess, freePort } from './support/processes';
import { closedPort, principal, request } from './support/harness';

/**
 * Balance leases (README "Balance leases") with the real wallets, real PostgreSQL and real
 * Redis: paid calls spend a lease instead of a wallets debit each, their charges reach the
 * ledger behind the requests, two replicas sharing one buyer's lease cannot spend more than
 * the balance, an unserved call gives its price back, a lease closes and gives the rest back,
 * and without Redis the proxy falls back to direct debits.
 */
jest.setTimeout(120_000);

const PRICE = 10_000n; // $0.01

describe('balance leases', () => {
  const prefix = 'acf:lease:';
  const serviceId = randomUUID();
  const failingId = randomUUID();
  let upstream: Upstream;
  let wallets: ServiceProcess;
  const replicas: ServiceProcess[] = [];
  let meteringDb: Client;
  let walletsDb: Client;
  let redis: Redis;
  const drops: (() => Promise<void>)[] = [];

  const meteringEnv = (dbUrl: string, extra: Record<string, string> = {}) => ({
    DATABASE_URL: dbUrl,
    INTERNAL_TOKEN_SECRET: TEST_SECRET,
    KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
    WALLETS_URL: wallets.url,
    WALLETS_TIMEOUT_MS: '5000',
    UPSTREAM_TIMEOUT_MS: '2000',
    PENDING_STALE_MS: '8000',
    REFUND_SWEEP_MS: '200',
    OUTBOX_POLL_MS: '50',
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    REDIS_URL: TEST_REDIS_URL,
    LEASE_CALLS: '5',
    LEASE_TTL_MS: '1500',
    ...extra,
  });

  const fund = async (who: Principal, amount: string) => {
    const r = await fetch(`${wallets.url}/dev/balance/fund`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-internal-principal': signPrincipal(who, TEST_SECRET) },
      body: JSON.stringify({ amount }),
    });
    expect(r.status).toBe(200);
  };
  const ledger = async (buyerId: string) => {
    const bal = (await walletsDb.query(`SELECT coalesce(sum(balance), 0)::text AS b FROM ledger_accounts WHERE owner_id = $1 AND kind = 'buyer_balance'`, [buyerId])).rows[0].b as string;
    const payments = (await walletsDb.query(`SELECT idempotency_key AS key, metadata FROM ledger_entries WHERE kind = 'payment' AND metadata->>'buyer_id' = $1`, [buyerId])).rows as { key: string; metadata: Record<string, string> }[];
    return { buyerBalance: BigInt(bal), payments };
  };
  const records = async (buyerId: string) =>
    (await meteringDb.query(`SELECT id::text, status, amount_micros::text AS amount, lease_id::text, lease_charge FROM usage_records WHERE buyer_id = $1`, [buyerId])).rows as {
      id: string;
      status: string;
      amount: string;
      lease_id: string | null;
      lease_charge: string;
    }[];
  const call = (base: string, who: Principal, id = serviceId) =>
    request(base, 'POST', `/api/v1/proxy/${id}/work`, { as: who, body: '{"n":1}', headers: { 'content-type': 'application/json' } });

  beforeAll(async () => {
    upstream = await startUpstream();
    const wdb = await freshDatabase('lease_wallets');
    const mdb = await freshDatabase('lease_metering');
    drops.push(wdb.drop, mdb.drop);
    wallets = new ServiceProcess('wallets', await freePort(), { DATABASE_URL: wdb.url, INTERNAL_TOKEN_SECRET: TEST_SECRET, KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','), DEV_ROUTES: 'true', LOG_LEVEL: 'warn' }, 'lease-wallets');
    wallets.start();
    await wallets.ready();
    for (let i = 0; i < 2; i++) {
      const m = new ServiceProcess('metering', await freePort(), meteringEnv(mdb.url), `lease-metering-${i}`);
      m.start();
      replicas.push(m);
    }
    await Promise.all(replicas.map((m) => m.ready()));
    meteringDb = new Client({ connectionString: mdb.url });
    walletsDb = new Client({ connectionString: wdb.url });
    await meteringDb.connect();
    await walletsDb.connect();
    redis = new Redis(TEST_REDIS_URL);
    const unreachable = `http://127.0.0.1:${await closedPort()}`;
    await meteringDb.query(
      `INSERT INTO service_prices (service_id, provider_id, name, endpoint, price_micros, payment_method, free_tier_calls, status, category, event_time)
       VALUES ($1, 'lease-provider', 'Lease API', $2, $4, 'x402', 0, 'active', 'ai', now()),
              ($3, 'lease-provider', 'Gone API', $5, $4, 'x402', 0, 'active', 'ai', now())`,
      [serviceId, upstream.url, failingId, PRICE.toString(), unreachable],
    );
  });

  afterAll(async () => {
    for (const m of replicas) await m.stop();
    await wallets?.stop();
    await meteringDb?.end();
    await walletsDb?.end();
    redis?.disconnect();
    await upstream?.close();
    for (const d of drops) await d().catch(() => undefined);
  });

  it('charges leased calls behind the request: one ledger payment per completed record, against its lease', async () => {
    const buyer = principal(`lease-a-${randomUUID().slice(0, 8)}`);
    await fund(buyer, '1.00');
    const usageIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await call(replicas[i % 2].url, buyer);
      expect(r.status).toBe(200);
      expect(r.headers['x-acf-amount']).toBe('0.01');
      usageIds.push(String(r.headers['x-acf-usage-id']));
    }
    // 12 calls at 5 calls per lease: at least three leases were opened.
    await eventually(async () => (await records(buyer.owner_id)).every((r) => r.lease_charge === 'done'), 20_000, 100);
    const recs = await records(buyer.owner_id);
    expect(recs.map((r) => r.id).sort()).toEqual([...usageIds].sort());
    expect(recs.every((r) => r.status === 'completed' && r.amount === PRICE.toString() && r.lease_id)).toBe(true);
    expect(new Set(recs.map((r) => r.lease_id)).size).toBeGreaterThanOrEqual(3);
    const { payments } = await ledger(buyer.owner_id);
    expect(payments.map((p) => p.key.replace(/^payment:/, '')).sort()).toEqual([...usageIds].sort());
    for (const p of payments) expect(p.metadata.lease_id).toBe(recs.find((r) => `payment:${r.id}` === p.key)!.lease_id);
    // What is the buyer's already counts the charges: the balance plus what its leases hold.
    const held = (
      await walletsDb.query(
        `SELECT coalesce(sum(a.balance), 0)::text AS b FROM ledger_accounts a
          WHERE a.kind = 'balance_lease' AND a.owner_id IN (SELECT id::text FROM balance_leases WHERE buyer_id = $1)`,
        [buyer.owner_id],
      )
    ).rows[0].b as string;
    expect((await ledger(buyer.owner_id)).buyerBalance + BigInt(held)).toBe(1_000_000n - PRICE * 12n);
    // Once the leases close (TTL 1.5 s + stale 8 s) the rest is back in the buyer's balance, exactly.
    await eventually(async () => (await meteringDb.query(`SELECT count(*)::int AS n FROM leases WHERE buyer_id = $1 AND state <> 'closed'`, [buyer.owner_id])).rows[0].n === 0, 40_000, 200);
    const after = await ledger(buyer.owner_id);
    expect(after.buyerBalance).toBe(1_000_000n - PRICE * 12n);
    const leases = (await walletsDb.query(`SELECT granted_micros::text AS g, released_micros::text AS r, state FROM balance_leases WHERE buyer_id = $1`, [buyer.owner_id])).rows as {
      g: string;
      r: string;
      state: string;
    }[];
    expect(leases.every((l) => l.state === 'closed')).toBe(true);
    expect(leases.reduce((s, l) => s + BigInt(l.g) - BigInt(l.r), 0n)).toBe(PRICE * 12n);
  });

  it('two replicas spending one buyer concurrently never take more than the balance', async () => {
    const buyer = principal(`lease-b-${randomUUID().slice(0, 8)}`);
    await fund(buyer, '0.20'); // exactly 20 calls
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => call(replicas[i % 2].url, buyer)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 402);
    expect(ok.length + refused.length).toBe(40);
    expect(ok.length).toBe(20);
    expect(refused[0].json().detail).toMatch(/Insufficient balance/);
    await eventually(async () => (await records(buyer.owner_id)).every((r) => r.lease_charge !== 'pending'), 20_000, 100);
    const completed = (await records(buyer.owner_id)).filter((r) => r.status === 'completed');
    expect(completed.length).toBe(20);
    expect(completed.every((r) => r.lease_charge === 'done' || (r.lease_id === null && r.lease_charge === 'none'))).toBe(true);
    const { payments, buyerBalance } = await ledger(buyer.owner_id);
    expect(payments.length).toBe(20);
    expect(buyerBalance).toBe(0n);
  });

  it('a call the provider never serves gives its price back to the lease and costs nothing', async () => {
    const buyer = principal(`lease-c-${randomUUID().slice(0, 8)}`);
    await fund(buyer, '1.00');
    expect((await call(replicas[0].url, buyer)).status).toBe(200);
    const key = `${prefix}${buyer.owner_id}`;
    const before = await redis.hget(key, 'left');
    const failed = await call(replicas[1].url, buyer, failingId);
    expect(failed.status).toBe(502);
    expect(failed.headers['x-acf-amount']).toBe('0');
    expect(await redis.hget(key, 'left')).toBe(before);
    await eventually(async () => (await records(buyer.owner_id)).every((r) => r.lease_charge !== 'pending'), 20_000, 100);
    const recs = await records(buyer.owner_id);
    const f = recs.find((r) => r.status === 'failed')!;
    expect(f).toMatchObject({ amount: '0', lease_charge: 'none' });
    expect((await ledger(buyer.owner_id)).payments.map((p) => p.key)).toEqual([`payment:${recs.find((r) => r.status === 'completed')!.id}`]);
  });

  it('a call still in flight when its lease is closing is not recorded against it, nor charged; the next call opens a new lease', async () => {
    const buyer = principal(`lease-e-${randomUUID().slice(0, 8)}`);
    await fund(buyer, '1.00');
    expect((await call(replicas[0].url, buyer)).status).toBe(200);
    const slowId = randomUUID();
    const slow = await startUpstream((_req, _body, res) => void setTimeout(() => res.end('{"slow":true}'), 800));
    try {
      await meteringDb.query(
        `INSERT INTO service_prices (service_id, provider_id, name, endpoint, price_micros, payment_method, free_tier_calls, status, category, event_time)
         VALUES ($1, 'lease-provider', 'Slow API', $2, $3, 'x402', 0, 'active', 'ai', now())`,
        [slowId, slow.url, PRICE.toString()],
      );
      const pending = call(replicas[1].url, buyer, slowId);
      // The sweeper's first step on a lease it closes, taken while the call is at the provider.
      await eventually(async () => slow.requests.length === 1, 5_000, 20);
      const { rows } = await meteringDb.query(`UPDATE leases SET state = 'closing' WHERE buyer_id = $1 AND state = 'open' RETURNING id::text`, [buyer.owner_id]);
      expect(rows).toHaveLength(1);
      const late = await pending;
      expect(late.status).toBe(503);
      expect(late.json().detail).toMatch(/not charged/);
      const rec = (await meteringDb.query(`SELECT status, amount_micros::text AS amount, lease_charge FROM usage_records WHERE buyer_id = $1 AND service_id = $2`, [buyer.owner_id, slowId])).rows;
      expect(rec).toEqual([{ status: 'abandoned', amount: '0', lease_charge: 'none' }]);
      // Redis forgot the closing lease: the next call opens a new one and is served.
      const next = await call(replicas[0].url, buyer);
      expect(next.status).toBe(200);
      const leases = (await meteringDb.query(`SELECT id::text, state FROM leases WHERE buyer_id = $1`, [buyer.owner_id])).rows as { id: string; state: string }[];
      expect(leases.filter((l) => l.state === 'open')).toHaveLength(1);
      expect(leases.find((l) => l.state === 'open')!.id).not.toBe(rows[0].id);
      // Two served calls, two charges; the abandoned one costs nothing.
      await eventually(async () => (await records(buyer.owner_id)).every((r) => r.lease_charge !== 'pending'), 20_000, 100);
      expect((await ledger(buyer.owner_id)).payments).toHaveLength(2);
    } finally {
      await slow.close();
    }
  });

  it('without Redis the proxy debits wallets directly, call by call', async () => {
    const buyer = principal(`lease-d-${randomUUID().slice(0, 8)}`);
    await fund(buyer, '1.00');
    const mdb = await freshDatabase('lease_noredis');
    drops.push(mdb.drop);
    const m = new ServiceProcess('metering', await freePort(), meteringEnv(mdb.url, { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` }), 'lease-metering-noredis');
    m.start();
    try {
      await m.ready();
      const db = new Client({ connectionString: mdb.url });
      await db.connect();
      await db.query(
        `INSERT INTO service_prices (service_id, provider_id, name, endpoint, price_micros, payment_method, free_tier_calls, status, category, event_time)
         VALUES ($1, 'lease-provider', 'Lease API', $2, $3, 'x402', 0, 'active', 'ai', now())`,
        [serviceId, upstream.url, PRICE.toString()],
      );
      const r = await call(m.url, buyer);
      expect(r.status).toBe(200);
      const rec = (await db.query(`SELECT status, lease_id, lease_charge FROM usage_records WHERE id = $1`, [r.headers['x-acf-usage-id']])).rows[0];
      await db.end();
      expect(rec).toEqual({ status: 'completed', lease_id: null, lease_charge: 'none' });
      const { payments, buyerBalance } = await ledger(buyer.owner_id);
      expect(payments.map((p) => p.key)).toEqual([`payment:${r.headers['x-acf-usage-id']}`]);
      expect(buyerBalance).toBe(1_000_000n - PRICE);
    } finally {
      await m.stop();
    }
  });
});
