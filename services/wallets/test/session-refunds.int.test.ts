import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { ChainWallets, startWalletsOnChain, asUser, asService, call, uniq } from './chain-helpers';
import { driftedAccounts, ledgerCounts, unbalancedEntries } from './helpers';

jest.setTimeout(120_000);

/**
 * POST /internal/sessions/:id/refunds (metering's sessionRefund): gives one session debit back
 * once, voids a usage id it finds no debit of, serializes with the debit of the same usage id,
 * and gives the agent's spend back with the money.
 */
describe('session refunds', () => {
  let w: ChainWallets;
  beforeAll(async () => {
    w = await startWalletsOnChain({ GAS_SPONSOR_GWEI: '2000000' });
  });
  afterAll(() => w?.stop());
  afterEach(async () => {
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  const user = uniq('refund-user');
  const me = asUser(user);

  /** An agent with `micros` USDC on chain and an open session holding `depositUsd`. */
  async function openSession(depositUsd: number, policy: Record<string, unknown> = {}) {
    const agent = (await call(`${w.url}/agents`, { body: { name: uniq('Refund Bot') }, headers: me })).body as { id: string; wallet_address: string };
    const funder = await w.newFunder();
    const hash = await w.send(funder, agent.wallet_address, 5_000_000n);
    expect((await call(`${w.url}/agents/${agent.id}/fund`, { body: { tx_hash: hash }, headers: me })).status).toBe(200);
    if (Object.keys(policy).length) expect((await call(`${w.url}/agents/${agent.id}/policy`, { method: 'PUT', headers: me, body: policy })).status).toBe(200);
    const opened = await call(`${w.url}/sessions`, { body: { agent_wallet_id: agent.id, deposit_amount: depositUsd }, headers: me });
    expect(opened.status).toBe(201);
    return { agentId: agent.id, sessionId: opened.body.session.id as string };
  }
  const debit = (sessionId: string, usageId: string, amount: string) =>
    call(`${w.url}/internal/sessions/${sessionId}/debits`, {
      headers: asService(),
      body: { usage_id: usageId, amount_micros: amount, service_id: 'exa', provider_id: 'prov-refund', owner_id: user },
    });
  const refund = (sessionId: string, usageId: string) => call(`${w.url}/internal/sessions/${sessionId}/refunds`, { headers: asService(), body: { usage_id: usageId } });
  const session = async (id: string) => (await call(`${w.url}/sessions/${id}`, { headers: me })).body.session;
  const spend = async (agentId: string) => {
    const rows = await w.svc.db.agentSpend.findMany({ where: { agentId } });
    return Object.fromEntries(rows.map((r) => [r.period.split(':')[0], r.spent]));
  };

  it('gives a debit back to the session once: remaining, counters and the agent spend are restored', async () => {
    const { agentId, sessionId } = await openSession(1, { daily_limit: 15_000 });
    const u1 = randomUUID();
    const first = await debit(sessionId, u1, '10000');
    expect(first.status).toBe(200);
    expect(first.body.remaining_micros).toBe('990000');
    expect(await spend(agentId)).toEqual({ total: 10_000n, d: 10_000n, m: 10_000n });
    // The daily limit is reached...
    const over = await debit(sessionId, randomUUID(), '10000');
    expect(over.status).toBe(402);
    expect(over.body.errors.reason).toBe('daily_limit');

    const r = await refund(sessionId, u1);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ usage_id: u1, session_id: sessionId, refunded_micros: '10000', remaining_micros: '1000000', refunded_to: 'session', duplicate: false });
    expect(await session(sessionId)).toMatchObject({ used_amount: 0, remaining: 1_000_000, call_count: 0 });
    expect(await spend(agentId)).toEqual({ total: 0n, d: 0n, m: 0n });
    const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: `refund:${u1}` }, include: { postings: { include: { account: true } } } });
    expect(entry.kind).toBe('refund');
    expect(entry.postings.map((p) => [p.account.kind, p.amount]).sort()).toEqual([
      ['provider_payable', -10_000n],
      ['session_balance', 10_000n],
    ]);

    // ...and given back: the same amount can be spent again today.
    expect((await debit(sessionId, randomUUID(), '10000')).status).toBe(200);

    // A replay answers the first result and moves nothing.
    const before = await ledgerCounts(w.svc.db);
    const sessionBefore = await session(sessionId);
    const spendBefore = await spend(agentId);
    const replay = await refund(sessionId, u1);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ ...r.body, duplicate: true });
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    expect(await session(sessionId)).toEqual(sessionBefore);
    expect(await spend(agentId)).toEqual(spendBefore);

    // A session debit is not a balance debit: /internal/refunds refuses it.
    const wrongRoute = await call(`${w.url}/internal/refunds`, { headers: asService(), body: { usage_id: u1 } });
    expect(wrongRoute.status).toBe(409);
    expect(wrongRoute.body.errors.reason).toBe('session_debit');
  });

  it('answers 404 no_debit for a usage id the session never debited, and then refuses its late debit with 409', async () => {
    const { sessionId } = await openSession(0.5);
    const other = await openSession(0.5);
    const late = randomUUID();
    const before = await ledgerCounts(w.svc.db);
    const r = await refund(sessionId, late);
    expect(r.status).toBe(404);
    expect(r.body.errors.reason).toBe('no_debit');
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    expect(await w.svc.db.sessionDebitVoid.count({ where: { sessionId, usageId: late } })).toBe(1);

    // The debit metering gave up on arrives after the refund: refused, nothing charged.
    const d = await debit(sessionId, late, '10000');
    expect(d.status).toBe(409);
    expect(d.body.errors.reason).toBe('usage_voided');
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    expect(await session(sessionId)).toMatchObject({ used_amount: 0, call_count: 0, remaining: 500_000 });
    // Again: still void, still nothing to refund.
    expect((await refund(sessionId, late)).body.errors.reason).toBe('no_debit');

    // A debit on another session is not this session's: 404 there, and the void is per session.
    const elsewhere = randomUUID();
    expect((await debit(other.sessionId, elsewhere, '1000')).status).toBe(200);
    expect((await refund(sessionId, elsewhere)).body.errors.reason).toBe('no_debit');
    expect((await refund(other.sessionId, elsewhere)).status).toBe(200);

    const unknown = await refund(randomUUID(), randomUUID());
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors.reason).toBe('no_debit');
    expect((await refund(sessionId, '')).status).toBe(400);
    expect((await call(`${w.url}/internal/sessions/${sessionId}/refunds`, { headers: me, body: { usage_id: late } })).status).toBe(403);
  });

  it('refunds to the account balance once a close has refunded the session on chain', async () => {
    const { agentId, sessionId } = await openSession(0.5);
    const u = randomUUID();
    expect((await debit(sessionId, u, '20000')).status).toBe(200);
    const closed = await call(`${w.url}/sessions/${sessionId}/close`, { body: {}, headers: me });
    expect(closed.body.session).toMatchObject({ status: 'closed', refunded: 480_000 });
    const balanceBefore = BigInt((await call(`${w.url}/internal/balances/${user}`, { headers: asService() })).body.balance_micros);

    const r = await refund(sessionId, u);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ refunded_micros: '20000', remaining_micros: '0', refunded_to: 'buyer_balance', duplicate: false });
    expect(BigInt((await call(`${w.url}/internal/balances/${user}`, { headers: asService() })).body.balance_micros)).toBe(balanceBefore + 20_000n);
    // The closed session's books stay as the close left them.
    expect(await session(sessionId)).toMatchObject({ status: 'closed', used_amount: 20_000 });
    expect(await spend(agentId)).toEqual({ total: 0n, d: 0n, m: 0n });
    expect((await refund(sessionId, u)).body).toMatchObject({ refunded_to: 'buyer_balance', duplicate: true });
  });

  it('keeps 200 concurrent debit/refund pairs of the same usage ids consistent', async () => {
    const N = 200;
    const { agentId, sessionId } = await openSession(1, { daily_limit: 100_000_000, spending_cap: 100_000_000 });
    const ids = Array.from({ length: N }, () => randomUUID());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
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
    try {
      const pairs = await Promise.all(
        ids.map((usage_id, i) => {
          const d = () => post(`/internal/sessions/${sessionId}/debits`, { usage_id, amount_micros: '1000', service_id: 'exa', provider_id: 'prov-race', owner_id: user });
          const r = () => post(`/internal/sessions/${sessionId}/refunds`, { usage_id });
          // Alternate which request leaves first; the server decides the order either way.
          return i % 2 ? Promise.all([d(), r()]) : Promise.all([r(), d()]).then(([b, a]) => [a, b]);
        }),
      );
      let charged = 0;
      for (const [d, r] of pairs) {
        // Either the debit came first and was refunded, or the refund voided it and the debit was refused.
        const outcome = `${d.status}/${r.status}`;
        expect(['200/200', '409/404']).toContain(outcome);
        if (outcome === '200/200') {
          charged++;
          expect(r.body.refunded_micros).toBe('1000');
        } else {
          expect(r.body.errors.reason).toBe('no_debit');
          expect(d.body.errors.reason).toBe('usage_voided');
        }
      }
      expect(charged + (await w.svc.db.sessionDebitVoid.count({ where: { sessionId } }))).toBe(N);

      const s = await w.svc.db.paymentSession.findUniqueOrThrow({ where: { id: sessionId } });
      expect(s.usedAmount).toBe(0n);
      expect(s.callCount).toBe(0);
      const account = await w.svc.db.ledgerAccount.findUniqueOrThrow({ where: { ownerId_kind_currency: { ownerId: sessionId, kind: 'session_balance', currency: 'USDC' } } });
      expect(account.balance).toBe(1_000_000n);
      expect(await spend(agentId)).toEqual(charged ? { total: 0n, d: 0n, m: 0n } : {});
      expect(await w.svc.db.ledgerEntry.count({ where: { kind: 'refund', metadata: { path: ['session_id'], equals: sessionId } } })).toBe(charged);

      // Replaying every refund changes nothing.
      const before = await ledgerCounts(w.svc.db);
      const replays = await Promise.all(ids.map((usage_id) => post(`/internal/sessions/${sessionId}/refunds`, { usage_id })));
      expect(replays.filter((r) => r.status === 200 && r.body.duplicate === true)).toHaveLength(charged);
      expect(replays.filter((r) => r.status === 404)).toHaveLength(N - charged);
      expect(await ledgerCounts(w.svc.db)).toEqual(before);
    } finally {
      agent.destroy();
    }
  });

  it('answers a malformed JSON body on spec 001 routes with 400 {"error"}', async () => {
    const bad = await call(`${w.url}/sessions`, { body: '{"agent_wallet_id": ', headers: me });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: 'Request body is not valid JSON', request_id: expect.any(String) });
    const internal = await call(`${w.url}/internal/sessions/${randomUUID()}/refunds`, { body: '{"usage_id": ', headers: asService() });
    expect(internal.status).toBe(400);
    expect(internal.body).toMatchObject({ detail: 'Request body is not valid JSON' });
  });
});
