import { randomUUID } from 'node:crypto';
import { Wallets, startWallets, fund, refund, call, asBuyer, asService, ledgerCounts, unbalancedEntries, driftedAccounts } from './helpers';

jest.setTimeout(60_000);

/**
 * Balance leases: metering takes a slice of a buyer's prepaid balance once (POST
 * /internal/leases), posts per-call charges against it (/internal/debits and /debits/batch with
 * lease_id) and closes it (the rest goes back). The slice is escrow: never overspent, never
 * lost, and still the buyer's money in the balance the buyer sees.
 */
describe('balance leases', () => {
  let w: Wallets;
  beforeAll(async () => {
    w = await startWallets();
  });
  afterAll(async () => {
    await w.stop();
  });
  afterEach(async () => {
    // Every entry sums to zero and every cached balance agrees with its postings.
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
    expect(await w.svc.db.ledgerAccount.count({ where: { kind: { in: ['balance_lease', 'buyer_balance'] }, balance: { lt: 0n } } })).toBe(0);
  });

  let n = 0;
  const uniq = (p: string) => `${p}-${++n}-${randomUUID().slice(0, 8)}`;

  const open = (body: Record<string, unknown>, headers = asService()) => call(`${w.url}/internal/leases`, { body, headers });
  const close = (leaseId: string, body?: unknown) => call(`${w.url}/internal/leases/${leaseId}/close`, { method: 'POST', body, headers: asService() });
  const item = (d: { usage_id: string; buyer_id: string; amount_micros: string; lease_id?: string; agent_id?: string; provider_id?: string }) => ({
    provider_id: 'prov-lease',
    service_id: 'svc-lease',
    ...d,
  });
  const debit = (d: Parameters<typeof item>[0]) => call(`${w.url}/internal/debits`, { body: item(d), headers: asService() });
  const batch = (debits: unknown[]) => call(`${w.url}/internal/debits/batch`, { body: { debits }, headers: asService() });
  const balances = async (ownerId: string) => (await call(`${w.url}/internal/balances/${encodeURIComponent(ownerId)}`, { headers: asService() })).body;
  const account = async (ownerId: string, kind: string) =>
    (await w.svc.db.ledgerAccount.findUnique({ where: { ownerId_kind_currency: { ownerId, kind, currency: 'USDC' } } }))?.balance ?? null;
  const leaseRow = (id: string) => w.svc.db.balanceLease.findUnique({ where: { id } });

  /** A buyer funded with `amount` (decimal USDC) and a lease of `micros` opened for it. */
  async function funded(amount: string, micros?: string) {
    const buyer = uniq('buyer-lease');
    expect((await fund(w, buyer, amount)).status).toBe(200);
    if (micros === undefined) return { buyer, lease: '' };
    const lease = randomUUID();
    const r = await open({ lease_id: lease, buyer_id: buyer, amount_micros: micros });
    expect(r.status).toBe(201);
    return { buyer, lease };
  }

  /** A refusal that moved nothing: status and reason, ledger as before. */
  async function refusedWithNothingWritten(run: () => ReturnType<typeof call>, status: number, reason: string | null) {
    const before = await ledgerCounts(w.svc.db);
    const leases = await w.svc.db.balanceLease.count();
    const r = await run();
    expect({ status: r.status, reason: r.body?.errors?.reason ?? null }).toEqual({ status, reason });
    expect(typeof r.body.detail).toBe('string');
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    expect(await w.svc.db.balanceLease.count()).toBe(leases);
    return r;
  }

  describe('open', () => {
    it('grants the whole amount from the buyer_balance, in one balanced entry, and the buyer still sees it', async () => {
      const { buyer } = await funded('1.00');
      const lease = randomUUID();
      const r = await open({ lease_id: lease, buyer_id: buyer, amount_micros: '300000' });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ lease_id: lease, buyer_id: buyer, granted_micros: '300000', balance_micros: '700000', duplicate: false });

      expect(await account(buyer, 'buyer_balance')).toBe(700_000n);
      expect(await account(lease, 'balance_lease')).toBe(300_000n);
      expect(await leaseRow(lease)).toMatchObject({ buyerId: buyer, grantedMicros: 300_000n, releasedMicros: null, state: 'open', closedAt: null });
      const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: `lease:${lease}` }, include: { postings: { include: { account: true } } } });
      expect(entry.kind).toBe('lease');
      expect(entry.postings.map((p) => [p.account.kind, p.amount]).sort()).toEqual([
        ['balance_lease', 300_000n],
        ['buyer_balance', -300_000n],
      ]);
      // It is still the buyer's money: every balance the buyer sees includes it.
      expect(await balances(buyer)).toEqual({ owner_id: buyer, balance_micros: '1000000', leased_micros: '300000' });
      expect((await call(`${w.url}/dev/balance`, { headers: asBuyer(buyer) })).body).toEqual({ owner_id: buyer, balance: '1.00', balance_micros: '1000000' });
      // No event: a lease is not a payment.
      expect(await w.svc.db.outboxEvent.count({ where: { subject: buyer, type: { not: 'balance.funded' } } })).toBe(0);
    });

    it('grants what the balance has when it holds less than asked but at least min_micros', async () => {
      const { buyer } = await funded('0.70');
      const lease = randomUUID();
      const r = await open({ lease_id: lease, buyer_id: buyer, amount_micros: '900000', min_micros: '100000' });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ granted_micros: '700000', balance_micros: '0', duplicate: false });
      expect(await account(buyer, 'buyer_balance')).toBe(0n);
      expect(await balances(buyer)).toMatchObject({ balance_micros: '700000', leased_micros: '700000' });
    });

    it('refuses with 402 below min_micros (default: the whole amount) and writes nothing', async () => {
      const { buyer } = await funded('0.05');
      const r = await refusedWithNothingWritten(() => open({ lease_id: randomUUID(), buyer_id: buyer, amount_micros: '100000' }), 402, 'insufficient_balance');
      expect(r.body.detail).toMatch(/^Insufficient balance: /);
      await refusedWithNothingWritten(() => open({ lease_id: randomUUID(), buyer_id: buyer, amount_micros: '100000', min_micros: '60000' }), 402, 'insufficient_balance');
      // A buyer that never funded holds nothing.
      await refusedWithNothingWritten(() => open({ lease_id: randomUUID(), buyer_id: uniq('nobody'), amount_micros: '1' }), 402, 'insufficient_balance');
      expect(await account(buyer, 'buyer_balance')).toBe(50_000n);
      // A retry of a refused lease id once the money is there is a new lease.
      const lease = randomUUID();
      await refusedWithNothingWritten(() => open({ lease_id: lease, buyer_id: buyer, amount_micros: '60000' }), 402, 'insufficient_balance');
      await fund(w, buyer, '0.01');
      expect((await open({ lease_id: lease, buyer_id: buyer, amount_micros: '60000' })).body).toMatchObject({ granted_micros: '60000', balance_micros: '0', duplicate: false });
    });

    it('answers a replay with the first result, and the same lease id for another buyer with 409', async () => {
      const { buyer } = await funded('1.00');
      const lease = randomUUID();
      const first = await open({ lease_id: lease, buyer_id: buyer, amount_micros: '250000' });
      expect(first.status).toBe(201);
      await fund(w, buyer, '1.00');
      const before = await ledgerCounts(w.svc.db);
      const again = await open({ lease_id: lease, buyer_id: buyer, amount_micros: '250000' });
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...first.body, duplicate: true });
      // Upper case is the same lease.
      expect((await open({ lease_id: lease.toUpperCase(), buyer_id: buyer, amount_micros: '250000' })).body).toEqual({ ...first.body, duplicate: true });
      expect(await ledgerCounts(w.svc.db)).toEqual(before);

      const { buyer: other } = await funded('1.00');
      await refusedWithNothingWritten(() => open({ lease_id: lease, buyer_id: other, amount_micros: '250000' }), 409, 'lease_conflict');
      expect(await account(other, 'buyer_balance')).toBe(1_000_000n);
    });

    it('opens one lease when the same lease id is opened concurrently', async () => {
      const { buyer } = await funded('1.00');
      const lease = randomUUID();
      const rs = await Promise.all(Array.from({ length: 8 }, () => open({ lease_id: lease, buyer_id: buyer, amount_micros: '100000' })));
      expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
      expect(new Set(rs.map((r) => r.body.granted_micros))).toEqual(new Set(['100000']));
      expect(await account(buyer, 'buyer_balance')).toBe(900_000n);
      expect(await account(lease, 'balance_lease')).toBe(100_000n);
    });

    it('refuses malformed bodies with 400 and callers that are not services with 403', async () => {
      const { buyer } = await funded('1.00');
      const bad = async (body: Record<string, unknown>, message: RegExp) => {
        const r = await refusedWithNothingWritten(() => open(body), 400, null);
        expect(r.body.detail).toMatch(message);
      };
      await bad({ lease_id: 'not-a-uuid', buyer_id: buyer, amount_micros: '1' }, /lease_id must be a uuid/);
      await bad({ lease_id: randomUUID(), buyer_id: buyer, amount_micros: '0' }, /more than 0/);
      await bad({ lease_id: randomUUID(), buyer_id: buyer, amount_micros: 5 }, /amount_micros/);
      await bad({ lease_id: randomUUID(), buyer_id: buyer, amount_micros: '10', min_micros: '0' }, /more than 0/);
      await bad({ lease_id: randomUUID(), buyer_id: buyer, amount_micros: '10', min_micros: '11' }, /min_micros must not exceed amount_micros/);
      await bad({ lease_id: randomUUID(), amount_micros: '10' }, /buyer_id/);
      await refusedWithNothingWritten(() => open({ lease_id: randomUUID(), buyer_id: buyer, amount_micros: '10' }, asBuyer(buyer)), 403, null);
    });
  });

  describe('debits against a lease', () => {
    it('takes a debit from the lease, not the buyer_balance, answering the lease remaining; replays and conflicts as any debit', async () => {
      const { buyer, lease } = await funded('1.00', '100000');
      const usage = uniq('ul');
      const r = await debit({ usage_id: usage, buyer_id: buyer, amount_micros: '30000', lease_id: lease });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ usage_id: usage, debited_micros: '30000', balance_micros: '70000', lease_remaining_micros: '70000', duplicate: false });
      expect(await account(lease, 'balance_lease')).toBe(70_000n);
      expect(await account(buyer, 'buyer_balance')).toBe(900_000n);
      expect(await account('prov-lease', 'provider_payable')).toBeGreaterThanOrEqual(30_000n);

      const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: `payment:${usage}` } });
      expect(entry.kind).toBe('payment');
      expect(entry.metadata).toMatchObject({ usage_id: usage, buyer_id: buyer, amount_micros: '30000', method: 'balance', lease_id: lease });
      const event = await w.svc.db.outboxEvent.findFirstOrThrow({ where: { type: 'payment.completed', subject: buyer } });
      expect((event.envelope as { data: Record<string, unknown> }).data).toMatchObject({ usage_id: usage, buyer_id: buyer, amount_micros: '30000', method: 'balance' });

      // A replay answers the first result; the same usage id with another lease, none, or another amount is a 409.
      await debit({ usage_id: uniq('ul'), buyer_id: buyer, amount_micros: '10000', lease_id: lease });
      const before = await ledgerCounts(w.svc.db);
      expect((await debit({ usage_id: usage, buyer_id: buyer, amount_micros: '30000', lease_id: lease })).body).toEqual({ ...r.body, duplicate: true });
      const other = randomUUID();
      expect((await open({ lease_id: other, buyer_id: buyer, amount_micros: '100000' })).status).toBe(201);
      const after = await ledgerCounts(w.svc.db);
      await refusedWithNothingWritten(() => debit({ usage_id: usage, buyer_id: buyer, amount_micros: '30000', lease_id: other }), 409, null);
      await refusedWithNothingWritten(() => debit({ usage_id: usage, buyer_id: buyer, amount_micros: '30000' }), 409, null);
      await refusedWithNothingWritten(() => debit({ usage_id: usage, buyer_id: buyer, amount_micros: '30001', lease_id: lease }), 409, null);
      expect(after.entries).toBe(before.entries + 1);
      expect(await account(lease, 'balance_lease')).toBe(60_000n);
    });

    it('refuses a debit the lease cannot cover with 402 lease_exhausted, and writes nothing', async () => {
      const { buyer, lease } = await funded('1.00', '50000');
      expect((await debit({ usage_id: uniq('ux'), buyer_id: buyer, amount_micros: '40000', lease_id: lease })).status).toBe(200);
      const r = await refusedWithNothingWritten(() => debit({ usage_id: uniq('ux'), buyer_id: buyer, amount_micros: '10001', lease_id: lease }), 402, 'lease_exhausted');
      expect(r.body.errors).toMatchObject({ lease_id: lease, balance_micros: '10000', required_micros: '10001' });
      // The buyer_balance is never a fallback for a lease debit.
      expect(await account(buyer, 'buyer_balance')).toBe(950_000n);
      expect((await debit({ usage_id: uniq('ux'), buyer_id: buyer, amount_micros: '10000', lease_id: lease })).body).toMatchObject({ lease_remaining_micros: '0' });
    });

    it('refuses an unknown lease or another buyer’s with 404 lease_not_found, and agent_id with lease_id with 400', async () => {
      const { buyer, lease } = await funded('1.00', '50000');
      const { buyer: other } = await funded('1.00');
      await refusedWithNothingWritten(() => debit({ usage_id: uniq('un'), buyer_id: buyer, amount_micros: '1', lease_id: randomUUID() }), 404, 'lease_not_found');
      await refusedWithNothingWritten(() => debit({ usage_id: uniq('un'), buyer_id: other, amount_micros: '1', lease_id: lease }), 404, 'lease_not_found');
      const r = await refusedWithNothingWritten(() => debit({ usage_id: uniq('un'), buyer_id: buyer, amount_micros: '1', lease_id: lease, agent_id: randomUUID() }), 400, null);
      expect(r.body.detail).toMatch(/agent_id cannot be combined with lease_id/);
      await refusedWithNothingWritten(() => debit({ usage_id: uniq('un'), buyer_id: buyer, amount_micros: '1', lease_id: 'nope' }), 400, null);
      expect(await account(lease, 'balance_lease')).toBe(50_000n);
    });

    it('answers each item of a batch as alone: lease debits, refusals and plain balance debits in one request', async () => {
      const { buyer, lease } = await funded('1.00', '100000');
      const { buyer: other } = await funded('1.00');
      const ids = Array.from({ length: 8 }, () => uniq('ub'));
      const r = await batch([
        item({ usage_id: ids[0], buyer_id: buyer, amount_micros: '40000', lease_id: lease }),
        item({ usage_id: ids[1], buyer_id: buyer, amount_micros: '40000', lease_id: lease }),
        item({ usage_id: ids[2], buyer_id: buyer, amount_micros: '40000', lease_id: lease }), // 20000 left: 402
        item({ usage_id: ids[3], buyer_id: buyer, amount_micros: '1', lease_id: randomUUID() }), // unknown: 404
        item({ usage_id: ids[4], buyer_id: other, amount_micros: '1', lease_id: lease }), // another buyer's: 404
        item({ usage_id: ids[5], buyer_id: buyer, amount_micros: '1', lease_id: lease, agent_id: randomUUID() }), // 400
        item({ usage_id: ids[6], buyer_id: buyer, amount_micros: '5000' }), // from the buyer_balance
        item({ usage_id: ids[0], buyer_id: buyer, amount_micros: '40000', lease_id: lease }), // a replay in the same batch
        item({ usage_id: ids[7], buyer_id: buyer, amount_micros: '20000', lease_id: lease }),
      ]);
      expect(r.status).toBe(200);
      const results = r.body.results as { status: number; body: Record<string, unknown> & { errors?: { reason?: string } } }[];
      expect(results.map((x) => [x.status, x.body.errors?.reason ?? null])).toEqual([
        [200, null],
        [200, null],
        [402, 'lease_exhausted'],
        [404, 'lease_not_found'],
        [404, 'lease_not_found'],
        [400, null],
        [200, null],
        [200, null],
        [200, null],
      ]);
      expect(results[0].body).toEqual({ usage_id: ids[0], debited_micros: '40000', balance_micros: '60000', lease_remaining_micros: '60000', duplicate: false });
      expect(results[1].body).toMatchObject({ lease_remaining_micros: '20000', duplicate: false });
      expect(results[6].body).toEqual({ usage_id: ids[6], debited_micros: '5000', balance_micros: '895000', duplicate: false });
      expect(results[7].body).toMatchObject({ usage_id: ids[0], lease_remaining_micros: '60000', duplicate: true });
      expect(results[8].body).toMatchObject({ lease_remaining_micros: '0', duplicate: false });
      expect(await account(lease, 'balance_lease')).toBe(0n);
      expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: { in: [ids[2], ids[3], ids[4], ids[5]].map((u) => `payment:${u}`) } } })).toBe(0);
    });

    it('refunds a lease debit to the buyer_balance, not to the lease', async () => {
      const { buyer, lease } = await funded('1.00', '100000');
      const usage = uniq('ur');
      await debit({ usage_id: usage, buyer_id: buyer, amount_micros: '30000', lease_id: lease });
      const r = await refund(w, usage);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ usage_id: usage, refunded_micros: '30000', balance_micros: '930000', duplicate: false });
      expect(await account(lease, 'balance_lease')).toBe(70_000n);
      expect(await balances(buyer)).toEqual({ owner_id: buyer, balance_micros: '1000000', leased_micros: '70000' });
    });
  });

  describe('close', () => {
    it('gives the rest back, charges what the lease debits took, answers a second close the same, and refuses later debits with 409', async () => {
      const { buyer, lease } = await funded('1.00', '200000');
      for (const micros of ['30000', '12345', '7655']) {
        expect((await debit({ usage_id: uniq('uc'), buyer_id: buyer, amount_micros: micros, lease_id: lease })).status).toBe(200);
      }
      // The body is not read: metering sends {}.
      const r = await close(lease, {});
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        lease_id: lease,
        buyer_id: buyer,
        granted_micros: '200000',
        charged_micros: '50000',
        released_micros: '150000',
        balance_micros: '950000',
        duplicate: false,
      });
      expect(await account(lease, 'balance_lease')).toBe(0n);
      expect(await account(buyer, 'buyer_balance')).toBe(950_000n);
      expect(await leaseRow(lease)).toMatchObject({ state: 'closed', releasedMicros: 150_000n });
      expect((await leaseRow(lease))!.closedAt).toBeInstanceOf(Date);
      const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: `lease_release:${lease}` } });
      expect(entry.kind).toBe('lease_release');
      expect(await balances(buyer)).toEqual({ owner_id: buyer, balance_micros: '950000', leased_micros: '0' });

      const before = await ledgerCounts(w.svc.db);
      await fund(w, buyer, '0.05');
      const again = await close(lease);
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...r.body, duplicate: true });
      expect((await ledgerCounts(w.svc.db)).entries).toBe(before.entries + 1);

      const refusedDebit = await refusedWithNothingWritten(() => debit({ usage_id: uniq('uc'), buyer_id: buyer, amount_micros: '1', lease_id: lease }), 409, 'lease_closed');
      expect(refusedDebit.body.detail).toMatch(/closed/);
      const inBatch = await batch([item({ usage_id: uniq('uc'), buyer_id: buyer, amount_micros: '1', lease_id: lease })]);
      expect(inBatch.body.results[0]).toMatchObject({ status: 409, body: { errors: { reason: 'lease_closed' } } });
      // A debit posted before the close is still a replay afterwards.
      const first = await w.svc.db.ledgerEntry.findFirstOrThrow({ where: { kind: 'payment', metadata: { path: ['lease_id'], equals: lease } } });
      const m = first.metadata as { usage_id: string; amount_micros: string };
      expect((await debit({ usage_id: m.usage_id, buyer_id: buyer, amount_micros: m.amount_micros, lease_id: lease })).body).toMatchObject({ duplicate: true });
    });

    it('writes no release entry for a fully spent lease, and answers 404 lease_not_found for an unknown one', async () => {
      const { buyer, lease } = await funded('0.10', '100000');
      await debit({ usage_id: uniq('uf'), buyer_id: buyer, amount_micros: '100000', lease_id: lease });
      const r = await close(lease);
      expect(r.body).toEqual({ lease_id: lease, buyer_id: buyer, granted_micros: '100000', charged_micros: '100000', released_micros: '0', balance_micros: '0', duplicate: false });
      expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: `lease_release:${lease}` } })).toBe(0);
      expect((await close(lease)).body).toEqual({ ...r.body, duplicate: true });
      for (const id of [randomUUID(), 'not-a-lease']) {
        const missing = await close(id);
        expect({ status: missing.status, reason: missing.body.errors?.reason }).toEqual({ status: 404, reason: 'lease_not_found' });
      }
    });
  });

  it('keeps the buyer’s total conserved across open → debits → fund → close (funded − charged throughout)', async () => {
    const { buyer } = await funded('2.00');
    let funded_ = 2_000_000n;
    let charged = 0n;
    const seen = async () => {
      const b = await balances(buyer);
      expect(BigInt(b.balance_micros)).toBe(funded_ - charged);
      expect((await call(`${w.url}/dev/balance`, { headers: asBuyer(buyer) })).body.balance_micros).toBe(b.balance_micros);
      return b;
    };
    await seen();
    const a = randomUUID();
    const b = randomUUID();
    expect((await open({ lease_id: a, buyer_id: buyer, amount_micros: '500000' })).status).toBe(201);
    expect((await open({ lease_id: b, buyer_id: buyer, amount_micros: '300000' })).status).toBe(201);
    expect((await seen()).leased_micros).toBe('800000');
    for (let i = 0; i < 5; i++) {
      expect((await debit({ usage_id: uniq('uk'), buyer_id: buyer, amount_micros: '11000', lease_id: i % 2 ? a : b })).status).toBe(200);
      charged += 11_000n;
      await seen();
    }
    // A funding while leases are open answers the total too (and its replay the same figure).
    const f = await fund(w, buyer, '1.00', 'lease-topup');
    funded_ += 1_000_000n;
    expect(f.body.balance_micros).toBe(String(funded_ - charged));
    expect((await fund(w, buyer, '1.00', 'lease-topup')).body.balance_micros).toBe(String(funded_ - charged));
    await seen();
    const ca = await close(a);
    expect(BigInt(ca.body.charged_micros)).toBe(22_000n);
    expect((await seen()).leased_micros).toBe(String(300_000n - 33_000n));
    const cb = await close(b);
    expect(BigInt(cb.body.charged_micros)).toBe(33_000n);
    expect(await seen()).toEqual({ owner_id: buyer, balance_micros: String(funded_ - charged), leased_micros: '0' });
    expect(await account(buyer, 'buyer_balance')).toBe(funded_ - charged);
  });

  describe('concurrency', () => {
    it('a lease worth exactly 10 calls: of 40 concurrent debits (batches in parallel and singles) exactly 10 succeed', async () => {
      const { buyer, lease } = await funded('1.00', '100000');
      const one = (i: number) => item({ usage_id: `race-${lease}-${i}`, buyer_id: buyer, amount_micros: '10000', lease_id: lease });
      const batches = [0, 1, 2].map((b) => batch(Array.from({ length: 10 }, (_, i) => one(b * 10 + i))).then((r) => r.body.results as { status: number; body: Record<string, string> }[]));
      const singles = Array.from({ length: 10 }, (_, i) => call(`${w.url}/internal/debits`, { body: one(30 + i), headers: asService() }).then((r) => [{ status: r.status, body: r.body }]));
      const answers = (await Promise.all([...batches, ...singles])).flat();
      expect(answers).toHaveLength(40);
      const ok = answers.filter((a) => a.status === 200);
      expect(ok).toHaveLength(10);
      expect(answers.filter((a) => a.status === 402 && (a.body as { errors?: { reason?: string } }).errors?.reason === 'lease_exhausted')).toHaveLength(30);
      // Each success saw a distinct remaining: serialized on the lease account, none lost.
      expect(new Set(ok.map((a) => a.body.lease_remaining_micros))).toEqual(new Set(Array.from({ length: 10 }, (_, i) => String(i * 10_000))));
      expect(await account(lease, 'balance_lease')).toBe(0n);
      expect(await w.svc.db.ledgerEntry.count({ where: { kind: 'payment', metadata: { path: ['lease_id'], equals: lease } } })).toBe(10);
      expect(await account(buyer, 'buyer_balance')).toBe(900_000n);
      expect((await close(lease)).body).toMatchObject({ charged_micros: '100000', released_micros: '0' });
      expect(await balances(buyer)).toMatchObject({ balance_micros: '900000', leased_micros: '0' });
    });

    it('a close racing debits leaves granted = charged + released exactly, and no debit succeeds after it', async () => {
      for (let round = 0; round < 3; round++) {
        const { buyer, lease } = await funded('1.00', '1000000');
        const one = (i: number) => item({ usage_id: `close-race-${lease}-${i}`, buyer_id: buyer, amount_micros: '7000', lease_id: lease });
        const batches = [0, 1, 2, 3].map((b) => batch(Array.from({ length: 10 }, (_, i) => one(b * 10 + i))).then((r) => r.body.results as { status: number; body: Record<string, string> }[]));
        const singles = Array.from({ length: 20 }, (_, i) => call(`${w.url}/internal/debits`, { body: one(40 + i), headers: asService() }).then((r) => [{ status: r.status, body: r.body }]));
        const closing = new Promise((resolve) => setTimeout(resolve, round * 15)).then(() => close(lease));
        const [closed, ...rest] = await Promise.all([closing, ...batches, ...singles]);
        const answers = (rest as { status: number; body: Record<string, string> }[][]).flat();
        expect(answers).toHaveLength(60);
        const ok = answers.filter((a) => a.status === 200);
        // Only two outcomes: charged before the close, or refused as closed after it.
        expect(answers.filter((a) => a.status !== 200).every((a) => a.status === 409 && (a.body as { errors?: { reason?: string } }).errors?.reason === 'lease_closed')).toBe(true);
        const c = (closed as { status: number; body: Record<string, string> }).body;
        expect((closed as { status: number }).status).toBe(200);
        const charged = BigInt(ok.length) * 7_000n;
        expect(BigInt(c.charged_micros)).toBe(charged);
        expect(BigInt(c.granted_micros)).toBe(BigInt(c.charged_micros) + BigInt(c.released_micros));
        expect(await account(lease, 'balance_lease')).toBe(0n);
        expect(await w.svc.db.ledgerEntry.count({ where: { kind: 'payment', metadata: { path: ['lease_id'], equals: lease } } })).toBe(ok.length);
        expect(await balances(buyer)).toEqual({ owner_id: buyer, balance_micros: String(1_000_000n - charged), leased_micros: '0' });
        // After it, nothing more is taken.
        expect((await debit({ usage_id: uniq('late'), buyer_id: buyer, amount_micros: '1', lease_id: lease })).status).toBe(409);
      }
    });
  });
});
