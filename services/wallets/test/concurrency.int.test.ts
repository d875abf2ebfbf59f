import { Wallets, startWallets, fund, debit, internalBalance, ledgerCounts, unbalancedEntries, driftedAccounts } from './helpers';

/**
 * The conditional UPDATE is the only guard against overspending: 1,000 concurrent debits of
 * 1 micro-USDC against a balance of 300 must yield exactly 300 charges, whatever the
 * interleaving, and replaying every usage id must change nothing.
 */
jest.setTimeout(60_000);

describe('concurrent debits of one balance', () => {
  let w: Wallets;
  beforeAll(async () => {
    w = await startWallets();
  });
  afterAll(async () => {
    await w.stop();
  });

  const BUYER = 'buyer-race';
  const PROVIDER = 'prov-race';
  const N = 1_000;
  const AFFORDABLE = 300;
  const usageIds = Array.from({ length: N }, (_, i) => `race-${i}`);
  const fire = () => Promise.all(usageIds.map((usage_id) => debit(w, { usage_id, buyer_id: BUYER, amount_micros: '1', provider_id: PROVIDER })));

  const accountBalance = async (ownerId: string, kind: string) =>
    (await w.svc.db.ledgerAccount.findUniqueOrThrow({ where: { ownerId_kind_currency: { ownerId, kind, currency: 'USDC' } } })).balance;
  const postingsSum = async (ownerId: string, kind: string) => {
    const rows = await w.svc.db.$queryRawUnsafe<{ s: string }[]>(
      `SELECT COALESCE(SUM(p."amount"), 0)::text AS s FROM "ledger_postings" p JOIN "ledger_accounts" a ON a."id" = p."account_id"
       WHERE a."owner_id" = $1 AND a."kind" = $2`,
      ownerId,
      kind,
    );
    return BigInt(rows[0].s);
  };

  it('charges exactly the affordable number, never overspending', async () => {
    expect((await fund(w, BUYER, '0.0003')).body.balance_micros).toBe(String(AFFORDABLE));

    const results = await fire();
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(AFFORDABLE);
    expect(statuses.filter((s) => s === 402)).toHaveLength(N - AFFORDABLE);

    // Each success saw a distinct balance after it: the debits were serialized, none lost.
    const after = results.filter((r) => r.status === 200).map((r) => Number(r.body.balance_micros));
    expect(new Set(after).size).toBe(AFFORDABLE);
    expect(Math.min(...after)).toBe(0);
    expect(Math.max(...after)).toBe(AFFORDABLE - 1);

    expect(await accountBalance(BUYER, 'buyer_balance')).toBe(0n);
    expect(await postingsSum(BUYER, 'buyer_balance')).toBe(0n);
    expect(await accountBalance(PROVIDER, 'provider_payable')).toBe(BigInt(AFFORDABLE));
    expect(await postingsSum(PROVIDER, 'provider_payable')).toBe(BigInt(AFFORDABLE));
    expect(await w.svc.db.ledgerEntry.count({ where: { kind: 'payment' } })).toBe(AFFORDABLE);
    expect(await w.svc.db.outboxEvent.count({ where: { type: 'payment.completed' } })).toBe(AFFORDABLE);

    const negative = await w.svc.db.ledgerAccount.count({ where: { kind: 'buyer_balance', balance: { lt: 0n } } });
    expect(negative).toBe(0);
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  it('changes nothing when all 1,000 usage ids are replayed', async () => {
    const before = await ledgerCounts(w.svc.db);
    const firstResults = new Map(
      (await w.svc.db.ledgerEntry.findMany({ where: { kind: 'payment' }, include: { postings: { include: { account: true } } } })).map((e) => [
        (e.metadata as { usage_id: string }).usage_id,
        e.postings.find((p) => p.account.kind === 'buyer_balance')!.balanceAfter.toString(),
      ]),
    );

    const replays = await fire();
    const ok = replays.filter((r) => r.status === 200);
    expect(ok).toHaveLength(AFFORDABLE);
    for (const r of ok) {
      expect(r.body.duplicate).toBe(true);
      expect(r.body.balance_micros).toBe(firstResults.get(r.body.usage_id));
    }
    // The refused ones stay refused: the balance is spent.
    expect(replays.filter((r) => r.status === 402)).toHaveLength(N - AFFORDABLE);

    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    expect(await internalBalance(w, BUYER)).toBe('0');
    expect(await accountBalance(PROVIDER, 'provider_payable')).toBe(BigInt(AFFORDABLE));
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });
});
