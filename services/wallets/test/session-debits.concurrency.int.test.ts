import http from 'node:http';
import { ChainWallets, startWalletsOnChain, asUser, asService, call, uniq } from './chain-helpers';
import { driftedAccounts, ledgerCounts, unbalancedEntries } from './helpers';

jest.setTimeout(120_000);

/**
 * 1,000 concurrent debits of 1 micro-USDC against a session holding 300: exactly 300 are
 * charged whatever the interleaving, the session's counters equal the ledger's sums, nothing
 * goes negative, and replaying every usage id changes nothing.
 */
describe('concurrent debits of one payment session', () => {
  let w: ChainWallets;
  const user = uniq('race-user');
  const N = 1_000;
  const AFFORDABLE = 300;
  let sessionId: string;
  let agentId: string;
  const usageIds = Array.from({ length: N }, (_, i) => `session-race-${i}`);
  /**
   * All 1,000 requests are issued at once over at most 128 keep-alive connections: a server's
   * accept backlog (511) would otherwise reset the surplus connections. The ledger runs at most
   * LEDGER_TX_CONCURRENCY transactions at a time either way, so the race is the same.
   */
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const post = (path: string, body: unknown): Promise<{ status: number; body: any }> => // eslint-disable-line @typescript-eslint/no-explicit-any
    new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = http.request(`${w.url}${path}`, { method: 'POST', agent, headers: { ...asService(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
      req.on('error', reject);
      req.end(data);
    });
  const fire = () =>
    Promise.all(usageIds.map((usage_id) => post(`/internal/sessions/${sessionId}/debits`, { usage_id, amount_micros: '1', service_id: 'svc-race', provider_id: 'prov-race', owner_id: user })));
  const sumPostings = async (ownerId: string, kind: string) =>
    BigInt(
      (
        await w.svc.db.$queryRawUnsafe<{ s: string }[]>(
          `SELECT COALESCE(SUM(p."amount"), 0)::text AS s FROM "ledger_postings" p JOIN "ledger_accounts" a ON a."id" = p."account_id" WHERE a."owner_id" = $1 AND a."kind" = $2`,
          ownerId,
          kind,
        )
      )[0].s,
    );

  beforeAll(async () => {
    w = await startWalletsOnChain();
    const me = asUser(user);
    const agent = (await call(`${w.url}/agents`, { body: { name: 'Race Bot' }, headers: me })).body;
    agentId = agent.id;
    const funder = await w.newFunder();
    await call(`${w.url}/agents/${agent.id}/fund`, { body: { tx_hash: await w.send(funder, agent.wallet_address, 1_000_000n) }, headers: me });
    const opened = await call(`${w.url}/sessions`, { body: { agent_wallet_id: agent.id, deposit_amount: '0.0003' }, headers: me });
    expect(opened.body.session.deposit_amount).toBe(AFFORDABLE);
    sessionId = opened.body.session.id;
  });
  afterAll(async () => {
    agent.destroy();
    await w?.stop();
  });

  it('charges exactly the deposit, never overspending', async () => {
    const results = await fire();
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(AFFORDABLE);
    expect(results.filter((r) => r.status === 402)).toHaveLength(N - AFFORDABLE);
    // Every success saw a distinct remaining balance: serialized, none lost.
    const remaining = ok.map((r) => Number(r.body.remaining_micros));
    expect(new Set(remaining).size).toBe(AFFORDABLE);
    expect(Math.min(...remaining)).toBe(0);
    expect(Math.max(...remaining)).toBe(AFFORDABLE - 1);

    const session = await w.svc.db.paymentSession.findUniqueOrThrow({ where: { id: sessionId } });
    expect(session.usedAmount).toBe(BigInt(AFFORDABLE));
    expect(session.callCount).toBe(AFFORDABLE);
    const account = await w.svc.db.ledgerAccount.findUniqueOrThrow({ where: { ownerId_kind_currency: { ownerId: sessionId, kind: 'session_balance', currency: 'USDC' } } });
    expect(account.balance).toBe(0n);
    expect(await sumPostings(sessionId, 'session_balance')).toBe(0n);
    expect(await sumPostings('prov-race', 'provider_payable')).toBe(BigInt(AFFORDABLE));
    expect((await w.svc.db.agentSpend.findUniqueOrThrow({ where: { agentId_period: { agentId, period: 'total' } } })).spent).toBe(BigInt(AFFORDABLE));
    expect(await w.svc.db.outboxEvent.count({ where: { type: 'payment.completed' } })).toBe(AFFORDABLE);
    expect(await w.svc.db.ledgerAccount.count({ where: { kind: 'session_balance', balance: { lt: 0n } } })).toBe(0);
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  it('changes nothing when all 1,000 usage ids are replayed', async () => {
    const before = await ledgerCounts(w.svc.db);
    const replays = await fire();
    const ok = replays.filter((r) => r.status === 200);
    const odd = replays.filter((r) => r.status !== 200 && r.status !== 402);
    expect(odd.slice(0, 2).map((r) => [r.status, r.body])).toEqual([]);
    expect(ok).toHaveLength(AFFORDABLE);
    expect(ok.every((r) => r.body.duplicate === true)).toBe(true);
    expect(replays.filter((r) => r.status === 402)).toHaveLength(N - AFFORDABLE);
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    const session = await w.svc.db.paymentSession.findUniqueOrThrow({ where: { id: sessionId } });
    expect([session.usedAmount, session.callCount]).toEqual([BigInt(AFFORDABLE), AFFORDABLE]);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  it('refunds nothing once the deposit is spent, and closes', async () => {
    const closed = await call(`${w.url}/sessions/${sessionId}/close`, { method: 'POST', headers: asUser(user), body: {} });
    expect(closed.body.session).toEqual({ id: sessionId, status: 'closed', deposit_amount: AFFORDABLE, used_amount: AFFORDABLE, refunded: 0, call_count: AFFORDABLE, refund_tx_hash: null });
  });
});
