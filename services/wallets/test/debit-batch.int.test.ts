import { Wallets, startWallets, fund, debit, refund, internalBalance, call, asService, asBuyer, unbalancedEntries, driftedAccounts } from './helpers';

/** `POST /internal/debits/batch`: metering's debits of concurrent calls in one request, each answered as alone. */
describe('batched balance debits', () => {
  let w: Wallets;
  beforeAll(async () => {
    w = await startWallets();
  });
  afterAll(async () => {
    await w.stop();
  });
  afterEach(async () => {
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  const item = (usage: string, buyer: string, micros: string) => ({ usage_id: usage, buyer_id: buyer, amount_micros: micros, provider_id: 'prov-batch', service_id: 'svc-batch' });
  const batch = (debits: unknown[]) => call(`${w.url}/internal/debits/batch`, { body: { debits }, headers: asService() });

  it('answers each debit in order as /internal/debits would: taken, short, malformed, replayed', async () => {
    await fund(w, 'buyer-batch', '0.10'); // 100000 micros
    const r = await batch([
      item('ub-1', 'buyer-batch', '40000'),
      item('ub-2', 'buyer-batch', '40000'),
      item('ub-3', 'buyer-batch', '40000'), // only 20000 left: refused, nothing taken
      { usage_id: 'ub-4', buyer_id: 'buyer-batch' }, // no amount
      item('ub-1', 'buyer-batch', '40000'), // the first one again, in the same batch
      item('ub-5', 'buyer-batch', '20000'),
    ]);
    expect(r.status).toBe(200);
    const results = r.body.results as { status: number; body: Record<string, unknown> }[];
    expect(results.map((x) => x.status)).toEqual([200, 200, 402, 400, 200, 200]);
    expect(results[0].body).toEqual({ usage_id: 'ub-1', debited_micros: '40000', balance_micros: '60000', duplicate: false });
    expect(results[1].body).toMatchObject({ usage_id: 'ub-2', balance_micros: '20000', duplicate: false });
    expect(String(results[2].body.detail)).toMatch(/Insufficient balance/);
    expect(String(results[3].body.detail)).toMatch(/amount_micros/);
    expect(results[4].body).toMatchObject({ usage_id: 'ub-1', debited_micros: '40000', duplicate: true });
    expect(results[5].body).toMatchObject({ usage_id: 'ub-5', balance_micros: '0', duplicate: false });
    expect(await internalBalance(w, 'buyer-batch')).toBe('0');

    // The same debit alone afterwards is a replay; a refund of a batched debit works as for any.
    const alone = await debit(w, item('ub-2', 'buyer-batch', '40000'));
    expect(alone.body).toMatchObject({ usage_id: 'ub-2', duplicate: true });
    expect((await refund(w, 'ub-2')).status).toBe(200);
    expect(await internalBalance(w, 'buyer-batch')).toBe('40000');
    // A different debit under a taken usage id is a conflict, in a batch as alone.
    const clash = await batch([item('ub-5', 'buyer-batch', '999')]);
    expect(clash.body.results[0].status).toBe(409);
    expect(await internalBalance(w, 'buyer-batch')).toBe('40000');
  });

  it('never overspends with many concurrent batches on one balance', async () => {
    await fund(w, 'buyer-batch-race', '1.00'); // 1,000,000 micros = 100 calls of 10,000
    const batches = Array.from({ length: 10 }, (_, b) => batch(Array.from({ length: 15 }, (_, i) => item(`race-${b}-${i}`, 'buyer-batch-race', '10000'))));
    const answers = (await Promise.all(batches)).flatMap((r) => r.body.results as { status: number }[]);
    expect(answers).toHaveLength(150);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(100);
    expect(answers.filter((a) => a.status === 402)).toHaveLength(50);
    expect(await internalBalance(w, 'buyer-batch-race')).toBe('0');
  });

  it('refuses what is not a batch, and callers that are not services', async () => {
    expect((await batch([])).status).toBe(400);
    expect((await call(`${w.url}/internal/debits/batch`, { body: { debits: 'no' }, headers: asService() })).status).toBe(400);
    expect((await batch(Array.from({ length: 501 }, (_, i) => item(`big-${i}`, 'b', '1')))).status).toBe(400);
    const notService = await call(`${w.url}/internal/debits/batch`, { body: { debits: [item('x', 'buyer-x', '1')] }, headers: asBuyer('buyer-x') });
    expect(notService.status).toBe(403);
    expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: { in: ['payment:x', 'payment:big-0'] } } })).toBe(0);
  });
});
