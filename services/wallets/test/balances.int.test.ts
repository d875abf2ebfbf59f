import type { AnyEnvelope } from '@platform/events';
import { eventually } from '@platform/testing';
import { Wallets, startWallets, fund, debit, refund, internalBalance, call, asBuyer, asService, ledgerCounts, unbalancedEntries, driftedAccounts } from './helpers';

describe('prepaid balances: funding, debits, refunds', () => {
  let w: Wallets;
  beforeAll(async () => {
    w = await startWallets();
  });
  afterAll(async () => {
    await w.stop();
  });

  afterEach(async () => {
    // Every test leaves a ledger that balances and caches that agree with their postings.
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  describe('funding (/dev)', () => {
    it('funds the caller’s own balance and stages balance.funded', async () => {
      const r = await fund(w, 'buyer-fund', '5.00');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ owner_id: 'buyer-fund', balance: '5.00', balance_micros: '5000000' });

      const again = await fund(w, 'buyer-fund', '0.000001');
      expect(again.body).toEqual({ owner_id: 'buyer-fund', balance: '5.000001', balance_micros: '5000001' });

      const me = await call(`${w.url}/dev/balance`, { headers: asBuyer('buyer-fund') });
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ owner_id: 'buyer-fund', balance: '5.000001', balance_micros: '5000001' });
      expect(await internalBalance(w, 'buyer-fund')).toBe('5000001');

      const events = await w.svc.db.outboxEvent.findMany({ where: { type: 'balance.funded', subject: 'buyer-fund' }, orderBy: { seq: 'asc' } });
      expect(events.map((e) => (e.envelope as { data: { amount_micros: string } }).data.amount_micros)).toEqual(['5000000', '1']);
      const data = (events[0].envelope as { data: Record<string, string> }).data;
      expect(data.owner_id).toBe('buyer-fund');
      expect(data.source).toBe('dev');
      // The event names the ledger entry it describes.
      expect(await w.svc.db.ledgerEntry.count({ where: { id: data.entry_id, kind: 'fund' } })).toBe(1);
    });

    it('answers a replayed Idempotency-Key with the first result and changes nothing', async () => {
      const first = await fund(w, 'buyer-idem', '2.50', 'topup-1');
      expect(first.body.balance_micros).toBe('2500000');
      await fund(w, 'buyer-idem', '1.00');
      const before = await ledgerCounts(w.svc.db);
      const replay = await fund(w, 'buyer-idem', '2.50', 'topup-1');
      expect(replay.status).toBe(200);
      expect(replay.body).toEqual({ owner_id: 'buyer-idem', balance: '2.50', balance_micros: '2500000' });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
      expect(await internalBalance(w, 'buyer-idem')).toBe('3500000');

      // The same key from another caller is that caller's own, unrelated request.
      const other = await fund(w, 'buyer-idem-2', '1.00', 'topup-1');
      expect(other.body.balance_micros).toBe('1000000');
    });

    it('refuses a replayed Idempotency-Key with a different amount, changing nothing', async () => {
      await fund(w, 'buyer-idem-3', '1.00', 'k-3');
      const before = await ledgerCounts(w.svc.db);
      const r = await fund(w, 'buyer-idem-3', '2.00', 'k-3');
      expect(r.status).toBe(409);
      expect(r.body.detail).toMatch(/Idempotency-Key/);
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
    });

    it.each([
      [{ amount: '0' }, /more than 0/],
      [{ amount: '-1.00' }, /decimal string/],
      [{ amount: '1.0000001' }, /at most 6 decimals/],
      [{ amount: '1000000.000001' }, /at most 1000000/],
      [{ amount: '1e3' }, /decimal string/],
      [{ amount: 5 }, /amount/],
      [{}, /amount is required/],
    ])('refuses %j with a 400 that says what to fix', async (body, message) => {
      const before = await ledgerCounts(w.svc.db);
      const r = await call(`${w.url}/dev/balance/fund`, { body, headers: asBuyer('buyer-bad') });
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(message);
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
    });

    it('accepts the largest amount, exactly', async () => {
      const r = await fund(w, 'buyer-max', '1000000');
      expect(r.body.balance_micros).toBe('1000000000000');
    });

    it('refuses a malformed Idempotency-Key and unauthenticated callers', async () => {
      const bad = await call(`${w.url}/dev/balance/fund`, { body: { amount: '1.00' }, headers: { ...asBuyer('b'), 'idempotency-key': 'x'.repeat(256) } });
      expect(bad.status).toBe(400);
      expect(bad.body.detail).toMatch(/Idempotency-Key/);
      const anon = await call(`${w.url}/dev/balance/fund`, { body: { amount: '1.00' } });
      expect(anon.status).toBe(401);
      expect(typeof anon.body.detail).toBe('string');
      const anonGet = await call(`${w.url}/dev/balance`);
      expect(anonGet.status).toBe(401);
    });
  });

  describe('debits (/internal)', () => {
    it('writes the outbox row the outbox itself would (one-statement debit) and the relay publishes it', async () => {
      await fund(w, 'buyer-env', '1.00');
      const seen: AnyEnvelope[] = [];
      await w.bus.subscribe({ group: 'test-env', types: ['payment.completed'], handler: async (e: AnyEnvelope) => void seen.push(e) });
      expect((await debit(w, { usage_id: 'u-env', buyer_id: 'buyer-env', amount_micros: '7', provider_id: 'prov-env', service_id: 'svc-env' })).status).toBe(200);

      const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: 'payment:u-env' } });
      const row = await w.svc.db.outboxEvent.findFirstOrThrow({ where: { type: 'payment.completed', subject: 'buyer-env' } });
      const env = row.envelope as Record<string, unknown>;
      expect(env).toEqual({
        id: row.id,
        type: 'payment.completed',
        version: expect.any(Number),
        source: 'wallets',
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        subject: 'buyer-env',
        data: { payment_id: entry.id, usage_id: 'u-env', buyer_id: 'buyer-env', provider_id: 'prov-env', service_id: 'svc-env', amount_micros: '7', method: 'balance' },
      });
      const published = await eventually(() => seen.find((e) => e.id === row.id));
      expect(published.data).toEqual(env.data);
      expect(await eventually(async () => (await w.svc.db.outboxEvent.findUniqueOrThrow({ where: { id: row.id } })).publishedAt)).toBeInstanceOf(Date);
    });

    it('moves the price from the buyer to the provider and stages payment.completed', async () => {
      await fund(w, 'buyer-d', '5.00');
      const r = await debit(w, { usage_id: 'u-d-1', buyer_id: 'buyer-d', amount_micros: '50000', provider_id: 'prov-d', service_id: 'svc-d' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ usage_id: 'u-d-1', debited_micros: '50000', balance_micros: '4950000', duplicate: false });
      expect(await internalBalance(w, 'buyer-d')).toBe('4950000');

      const payable = await w.svc.db.ledgerAccount.findUnique({ where: { ownerId_kind_currency: { ownerId: 'prov-d', kind: 'provider_payable', currency: 'USDC' } } });
      expect(payable?.balance).toBe(50000n);

      const entry = await w.svc.db.ledgerEntry.findUnique({ where: { idempotencyKey: 'payment:u-d-1' }, include: { postings: true } });
      expect(entry?.kind).toBe('payment');
      expect(entry?.postings.map((p) => p.amount).sort()).toEqual([-50000n, 50000n]);

      const events = await w.svc.db.outboxEvent.findMany({ where: { type: 'payment.completed' } });
      const mine = events.map((e) => (e.envelope as { data: Record<string, string> }).data).filter((d) => d.usage_id === 'u-d-1');
      expect(mine).toEqual([
        { payment_id: entry!.id, usage_id: 'u-d-1', buyer_id: 'buyer-d', provider_id: 'prov-d', service_id: 'svc-d', amount_micros: '50000', method: 'balance' },
      ]);
    });

    it('answers a replayed usage_id with the first result, duplicate:true, changing nothing', async () => {
      await fund(w, 'buyer-r', '1.00');
      const first = await debit(w, { usage_id: 'u-r-1', buyer_id: 'buyer-r', amount_micros: '100000' });
      await debit(w, { usage_id: 'u-r-2', buyer_id: 'buyer-r', amount_micros: '100000' });
      const before = await ledgerCounts(w.svc.db);
      const replay = await debit(w, { usage_id: 'u-r-1', buyer_id: 'buyer-r', amount_micros: '100000' });
      expect(replay.status).toBe(200);
      expect(replay.body).toEqual({ ...first.body, duplicate: true });
      expect(replay.body.balance_micros).toBe('900000');
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
      expect(await internalBalance(w, 'buyer-r')).toBe('800000');
    });

    it('refuses a usage_id reused for a different debit with 409, changing nothing', async () => {
      await fund(w, 'buyer-c', '1.00');
      await debit(w, { usage_id: 'u-c-1', buyer_id: 'buyer-c', amount_micros: '1000' });
      const before = await ledgerCounts(w.svc.db);
      const r = await debit(w, { usage_id: 'u-c-1', buyer_id: 'buyer-c', amount_micros: '2000' });
      expect(r.status).toBe(409);
      expect(r.body.detail).toMatch(/u-c-1/);
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
    });

    it('answers 402 when the balance cannot cover the debit, changing nothing', async () => {
      await fund(w, 'buyer-poor', '0.04');
      const before = await ledgerCounts(w.svc.db);
      const r = await debit(w, { usage_id: 'u-poor-1', buyer_id: 'buyer-poor', amount_micros: '50000' });
      expect(r.status).toBe(402);
      expect(r.body.detail).toMatch(/^Insufficient balance: 0\.04 USDC available, 0\.05 USDC required/);
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
      expect(await internalBalance(w, 'buyer-poor')).toBe('40000');
      expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: 'payment:u-poor-1' } })).toBe(0);

      // A buyer who never funded anything has no account and is refused the same way.
      const none = await debit(w, { usage_id: 'u-none-1', buyer_id: 'buyer-never-funded', amount_micros: '1' });
      expect(none.status).toBe(402);
      expect(none.body.detail).toMatch(/^Insufficient balance: 0\.00 USDC available/);
      expect(await ledgerCounts(w.svc.db)).toEqual(before);

      // The refused usage id is not burnt: once funded, the same debit goes through.
      await fund(w, 'buyer-poor', '0.01');
      const later = await debit(w, { usage_id: 'u-poor-1', buyer_id: 'buyer-poor', amount_micros: '50000' });
      expect(later.body).toEqual({ usage_id: 'u-poor-1', debited_micros: '50000', balance_micros: '0', duplicate: false });
    });

    it.each([
      [{ usage_id: 'x', buyer_id: 'b', amount_micros: '0', provider_id: 'p', service_id: 's' }, /amount_micros: must be more than 0/],
      [{ usage_id: 'x', buyer_id: 'b', amount_micros: '-5', provider_id: 'p', service_id: 's' }, /amount_micros/],
      [{ usage_id: 'x', buyer_id: 'b', amount_micros: 5, provider_id: 'p', service_id: 's' }, /amount_micros/],
      [{ usage_id: 'x', buyer_id: 'b', amount_micros: '1.5', provider_id: 'p', service_id: 's' }, /amount_micros/],
      [{ usage_id: 'x', buyer_id: 'b', amount_micros: '1000000000001', provider_id: 'p', service_id: 's' }, /at most/],
      [{ buyer_id: 'b', amount_micros: '5', provider_id: 'p', service_id: 's' }, /usage_id is required/],
      [{ usage_id: 'x'.repeat(201), buyer_id: 'b', amount_micros: '5', provider_id: 'p', service_id: 's' }, /usage_id must be at most 200/],
    ])('refuses the debit %j with a 400', async (body, message) => {
      const r = await call(`${w.url}/internal/debits`, { body, headers: asService() });
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(message);
    });

    it('accepts only service tokens on /internal', async () => {
      const asUser = await call(`${w.url}/internal/debits`, {
        body: { usage_id: 'u-x', buyer_id: 'buyer-d', amount_micros: '1', provider_id: 'p', service_id: 's' },
        headers: asBuyer('buyer-d'),
      });
      expect(asUser.status).toBe(403);
      expect(typeof asUser.body.detail).toBe('string');
      const anon = await call(`${w.url}/internal/balances/buyer-d`);
      expect(anon.status).toBe(403);
      expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: 'payment:u-x' } })).toBe(0);
    });

    it('reports zero for an owner with no account', async () => {
      const r = await call(`${w.url}/internal/balances/nobody`, { headers: asService() });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ owner_id: 'nobody', balance_micros: '0', leased_micros: '0' });
    });
  });

  describe('refunds (/internal)', () => {
    it('reverses a debit exactly once', async () => {
      await fund(w, 'buyer-rf', '1.00');
      await debit(w, { usage_id: 'u-rf-1', buyer_id: 'buyer-rf', amount_micros: '300000', provider_id: 'prov-rf' });
      await debit(w, { usage_id: 'u-rf-2', buyer_id: 'buyer-rf', amount_micros: '100000', provider_id: 'prov-rf' });

      const r = await refund(w, 'u-rf-1');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ usage_id: 'u-rf-1', refunded_micros: '300000', balance_micros: '900000', duplicate: false });
      const payable = () =>
        w.svc.db.ledgerAccount.findUnique({ where: { ownerId_kind_currency: { ownerId: 'prov-rf', kind: 'provider_payable', currency: 'USDC' } } });
      expect((await payable())?.balance).toBe(100000n);

      const before = await ledgerCounts(w.svc.db);
      const again = await refund(w, 'u-rf-1');
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...r.body, duplicate: true });
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
      expect(await internalBalance(w, 'buyer-rf')).toBe('900000');
      expect((await payable())?.balance).toBe(100000n);

      // Refunding does not free the usage id for a second charge.
      const redebit = await debit(w, { usage_id: 'u-rf-1', buyer_id: 'buyer-rf', amount_micros: '300000', provider_id: 'prov-rf' });
      expect(redebit.body.duplicate).toBe(true);
      expect(await internalBalance(w, 'buyer-rf')).toBe('900000');

      const entry = await w.svc.db.ledgerEntry.findUnique({ where: { idempotencyKey: 'refund:u-rf-1' } });
      const debitEntry = await w.svc.db.ledgerEntry.findUnique({ where: { idempotencyKey: 'payment:u-rf-1' } });
      expect(entry?.kind).toBe('refund');
      expect((entry?.metadata as Record<string, string>).reverses_entry_id).toBe(debitEntry?.id);
    });

    it('answers 404 for a usage_id that was never debited, moving no money, and voids it so a late debit is refused', async () => {
      await fund(w, 'buyer-void', '1.00');
      const before = await ledgerCounts(w.svc.db);
      const r = await refund(w, 'u-never');
      expect(r.status).toBe(404);
      expect(r.body.detail).toMatch(/u-never/);
      expect(await ledgerCounts(w.svc.db)).toEqual(before);

      // Metering gave up on a slow debit and asked for it back; the debit arriving afterwards must not charge.
      const late = await debit(w, { usage_id: 'u-never', buyer_id: 'buyer-void', amount_micros: '300000', provider_id: 'p', service_id: 's' });
      expect(late.status).toBe(409);
      expect(late.body.detail).toMatch(/refunded before it was debited/);
      expect(await internalBalance(w, 'buyer-void')).toBe('1000000');
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
    });

    it('a refund racing its debit leaves either both or neither: the buyer is never charged for an abandoned call', async () => {
      await fund(w, 'buyer-race', '10.00');
      const ids = Array.from({ length: 40 }, (_, i) => `u-race-${i}`);
      const results = await Promise.all(
        ids.map(async (id) => {
          const [d] = await Promise.all([
            debit(w, { usage_id: id, buyer_id: 'buyer-race', amount_micros: '100000', provider_id: 'p', service_id: 's' }),
            refund(w, id),
          ]);
          return d.status;
        }),
      );
      // Whatever the order, every debit that committed was refunded afterwards or was refused as void.
      for (const id of ids) {
        const debited = await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: `payment:${id}` } });
        const refunded = await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: `refund:${id}` } });
        const voided = await w.svc.db.debitVoid.count({ where: { usageId: id } });
        // Debit first: the refund found and reversed it. Refund first: the id is void and nothing was debited.
        expect({ id, debited, refunded, voided }).toEqual(debited ? { id, debited: 1, refunded: 1, voided: 0 } : { id, debited: 0, refunded: 0, voided: 1 });
      }
      // Retried refunds change nothing more.
      for (const id of ids) await refund(w, id);
      expect(await internalBalance(w, 'buyer-race')).toBe('10000000');
      expect(results.every((s) => s === 200 || s === 409)).toBe(true);
    });
  });

  describe('the database defends the invariants itself', () => {
    it('refuses a negative buyer balance, and updates or deletes of the ledger', async () => {
      await fund(w, 'buyer-db', '1.00');
      await expect(
        w.svc.db.$executeRawUnsafe(`UPDATE "ledger_accounts" SET "balance" = -1 WHERE "owner_id" = 'buyer-db' AND "kind" = 'buyer_balance'`),
      ).rejects.toThrow(/ledger_accounts_non_negative_check/);
      await expect(w.svc.db.$executeRawUnsafe(`UPDATE "ledger_postings" SET "amount" = "amount" * 2`)).rejects.toThrow(/append-only/);
      await expect(w.svc.db.$executeRawUnsafe(`DELETE FROM "ledger_entries"`)).rejects.toThrow(/append-only/);
      expect(await internalBalance(w, 'buyer-db')).toBe('1000000');
    });

    it('refuses an entry whose postings do not sum to zero', async () => {
      const account = await w.svc.db.ledgerAccount.findFirstOrThrow({ where: { ownerId: 'buyer-db', kind: 'buyer_balance' } });
      await expect(
        w.svc.db.$transaction(async (tx) => {
          await tx.ledgerEntry.create({ data: { id: '00000000-0000-4000-8000-000000000001', idempotencyKey: 'forged', kind: 'fund', metadata: {} } });
          await tx.ledgerPosting.create({ data: { entryId: '00000000-0000-4000-8000-000000000001', accountId: account.id, amount: 5n, balanceAfter: 5n } });
        }),
      ).rejects.toThrow(/does not balance/);
      expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: 'forged' } })).toBe(0);
    });
  });

  it('answers health and readiness', async () => {
    expect((await call(`${w.url}/health`)).body.status).toBe('ok');
    expect((await call(`${w.url}/ready`)).status).toBe(200);
  });
});
