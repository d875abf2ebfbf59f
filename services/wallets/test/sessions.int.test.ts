import { randomUUID } from 'node:crypto';
import { Contract, Signature, Wallet, hexlify, randomBytes } from 'ethers';
import { ChainWallets, startWalletsOnChain, asUser, asService, call, uniq } from './chain-helpers';
import { driftedAccounts, unbalancedEntries } from './helpers';

jest.setTimeout(90_000);

/** Spec 001 payment sessions on chain, the internal per-call debit, policy checks and EIP-3009 signing. */
describe('payment sessions', () => {
  let w: ChainWallets;
  beforeAll(async () => {
    w = await startWalletsOnChain({ GAS_SPONSOR_GWEI: '2000000' });
  });
  afterAll(() => w?.stop());
  afterEach(async () => {
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  const user = uniq('session-user');
  const me = asUser(user);

  /** An agent holding `micros` USDC on chain, recorded through POST /fund. */
  async function fundedAgent(micros = 25_000_000n, headers = me) {
    const agent = (await call(`${w.url}/agents`, { body: { name: uniq('Session Bot') }, headers })).body as { id: string; wallet_address: string };
    const funder = await w.newFunder();
    const hash = await w.send(funder, agent.wallet_address, micros);
    expect((await call(`${w.url}/agents/${agent.id}/fund`, { body: { tx_hash: hash }, headers })).status).toBe(200);
    return { ...agent, funder };
  }
  const open = (body: unknown, headers = me) => call(`${w.url}/sessions`, { body, headers });
  const debit = (sessionId: string, d: { usage_id?: string; amount_micros: string; service_id?: string; provider_id?: string; owner_id?: string; agent_id?: string }) =>
    call(`${w.url}/internal/sessions/${sessionId}/debits`, {
      headers: asService(),
      body: { usage_id: randomUUID(), service_id: 'exa', provider_id: 'prov-exa', owner_id: user, ...d },
    });

  it('opens a session with an on-chain deposit from the agent to the treasury (spec 001 shape)', async () => {
    const agent = await fundedAgent();
    const treasuryBefore = await w.balanceOf(w.chain.treasuryAddress);
    const r = await open({ agent_wallet_id: agent.id, deposit_amount: 5.0, duration: 3600 });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      session: {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        deposit_amount: 5000000,
        used_amount: 0,
        remaining: 5000000,
        call_count: 0,
        status: 'open',
        deposit_tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
        expires_at: expect.any(Number),
        expires_in: 3600,
      },
    });
    expect(r.body.session.expires_at - Math.floor(Date.now() / 1000)).toBeGreaterThan(3590);
    expect(await w.balanceOf(agent.wallet_address)).toBe(20_000_000n);
    expect(await w.balanceOf(w.chain.treasuryAddress)).toBe(treasuryBefore + 5_000_000n);

    const receipt = await w.provider.getTransactionReceipt(r.body.session.deposit_tx_hash);
    expect(receipt!.status).toBe(1);
    const sessionAccount = await w.svc.db.ledgerAccount.findUniqueOrThrow({ where: { ownerId_kind_currency: { ownerId: r.body.session.id, kind: 'session_balance', currency: 'USDC' } } });
    expect(sessionAccount.balance).toBe(5_000_000n);
    const ev = await w.svc.db.outboxEvent.findFirstOrThrow({ where: { type: 'session.opened' }, orderBy: { seq: 'desc' } });
    expect((ev.envelope as { data: unknown }).data).toMatchObject({ session_id: r.body.session.id, agent_id: agent.id, account_id: user, deposit_micros: '5000000' });

    const detail = await call(`${w.url}/sessions/${r.body.session.id}`, { headers: me });
    expect(detail.body.session).toMatchObject({ ...r.body.session, expires_in: expect.any(Number), agent_wallet_id: agent.id, refunded: null, refund_tx_hash: null, closed_at: null });
    const list = await call(`${w.url}/sessions?agent_wallet_id=${agent.id}`, { headers: me });
    expect(list.body).toMatchObject({ total: 1, sessions: [expect.objectContaining({ id: r.body.session.id, status: 'open' })] });
  });

  it('debits per call instantly and idempotently, refuses overspending, and refunds the rest on chain at close', async () => {
    const agent = await fundedAgent();
    const s = (await open({ agent_wallet_id: agent.id, deposit_amount: '1.00' })).body.session;
    const first = await debit(s.id, { usage_id: 'u-1', amount_micros: '10000' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ usage_id: 'u-1', session_id: s.id, debited_micros: '10000', remaining_micros: '990000', used_micros: '10000', call_count: 1, duplicate: false, agent_id: agent.id, per_call_max: null });

    const replay = await debit(s.id, { usage_id: 'u-1', amount_micros: '10000' });
    expect(replay.body).toMatchObject({ remaining_micros: '990000', duplicate: true, call_count: 1 });
    const conflict = await debit(s.id, { usage_id: 'u-1', amount_micros: '20000' });
    expect(conflict.status).toBe(409);

    for (let i = 0; i < 49; i++) expect((await debit(s.id, { amount_micros: '10000' })).status).toBe(200);
    const tooMuch = await debit(s.id, { amount_micros: '500001' });
    expect(tooMuch.status).toBe(402);
    expect(tooMuch.body).toMatchObject({ detail: expect.stringMatching(/Insufficient budget: the session has 0.50 USDC left/), errors: { reason: 'insufficient_session_balance' } });

    const other = await debit(s.id, { amount_micros: '1', owner_id: 'someone-else' });
    expect(other.status).toBe(404);
    const payments = await w.svc.db.outboxEvent.findMany({ where: { type: 'payment.completed' } });
    const mine = payments.map((e) => (e.envelope as { data: { agent_id?: string; method: string; buyer_id: string } }).data).filter((d) => d.agent_id === agent.id);
    expect(mine).toHaveLength(50);
    expect(mine.every((d) => d.method === 'session' && d.buyer_id === user)).toBe(true);
    // Naming the paying agent: the session must be its, else it does not exist for the caller, and nothing moves.
    const stranger = await debit(s.id, { usage_id: 'u-stranger', amount_micros: '1', agent_id: '00000000-0000-4000-8000-000000000000' });
    expect(stranger.status).toBe(404);
    expect(stranger.body).toMatchObject({ detail: 'Session not found for this agent', errors: { reason: 'session_not_found' } });
    expect(await w.svc.db.ledgerEntry.findUnique({ where: { idempotencyKey: 'payment:u-stranger' } })).toBeNull();
    const named = await debit(s.id, { usage_id: 'u-named', amount_micros: '10000', agent_id: agent.id.toUpperCase() });
    expect(named.body).toMatchObject({ usage_id: 'u-named', agent_id: agent.id, remaining_micros: '490000' });
    expect((await debit(s.id, { usage_id: 'u-named', amount_micros: '10000', agent_id: agent.id })).body).toMatchObject({ duplicate: true });
    expect((await call(`${w.url}/internal/sessions/${s.id}/refunds`, { method: 'POST', headers: asService(), body: { usage_id: 'u-named' } })).status).toBe(200);


    const before = await w.balanceOf(agent.wallet_address);
    const closed = await call(`${w.url}/sessions/${s.id}/close`, { method: 'POST', headers: me, body: {} });
    expect(closed.status).toBe(200);
    expect(closed.body).toEqual({
      session: { id: s.id, status: 'closed', deposit_amount: 1000000, used_amount: 500000, refunded: 500000, call_count: 50, refund_tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/) },
    });
    expect(await w.balanceOf(agent.wallet_address)).toBe(before + 500_000n);
    const again = await call(`${w.url}/sessions/${s.id}/close`, { method: 'POST', headers: me, body: {} });
    expect(again.body).toEqual(closed.body);
    expect(await w.balanceOf(agent.wallet_address)).toBe(before + 500_000n);

    const late = await debit(s.id, { amount_micros: '1' });
    expect(late.status).toBe(402);
    const ev = await w.svc.db.outboxEvent.findFirstOrThrow({ where: { type: 'session.closed' }, orderBy: { seq: 'desc' } });
    expect((ev.envelope as { data: unknown }).data).toMatchObject({ session_id: s.id, used_micros: '500000', refunded_micros: '500000', call_count: 50, refund_tx_hash: closed.body.session.refund_tx_hash });
    const txs = (await call(`${w.url}/agents/${agent.id}/transactions`, { headers: me })).body.transactions.map((t: { type: string }) => t.type);
    expect(txs.slice(0, 2)).toEqual(['session_refund', 'session_deposit']);
  });

  it('stops debits at expiry, shows the session as expired, and still closes it with a refund', async () => {
    const agent = await fundedAgent();
    const s = (await open({ agent_wallet_id: agent.id, deposit_amount: 2 })).body.session;
    expect((await debit(s.id, { amount_micros: '250000' })).status).toBe(200);
    await w.svc.db.paymentSession.update({ where: { id: s.id }, data: { expiresAt: new Date(Date.now() - 1000) } });

    const expired = await debit(s.id, { amount_micros: '1' });
    expect(expired.status).toBe(409);
    expect(expired.body).toMatchObject({ detail: expect.stringMatching(/expired/), errors: { reason: 'session_expired' } });
    expect((await call(`${w.url}/sessions/${s.id}`, { headers: me })).body.session).toMatchObject({ status: 'expired', expires_in: 0, remaining: 1750000 });

    const closed = await call(`${w.url}/sessions/${s.id}/close`, { method: 'POST', headers: me, body: {} });
    expect(closed.body.session).toMatchObject({ status: 'closed', used_amount: 250000, refunded: 1750000 });
  });

  it('enforces the agent policy on debits: services, per-call max, daily limit, atomically', async () => {
    const agent = await fundedAgent();
    const put = await call(`${w.url}/agents/${agent.id}/policy`, { method: 'PUT', headers: me, body: { blocked_services: ['openai'], per_call_max: 100000, daily_limit: 150000 } });
    expect(put.status).toBe(200);
    const s = (await open({ agent_wallet_id: agent.id, deposit_amount: 1 })).body.session;

    const blocked = await debit(s.id, { amount_micros: '1', service_id: 'api.openai.com' });
    expect(blocked.status).toBe(403);
    expect(blocked.body.errors.reason).toBe('service_blocked');
    const perCall = await debit(s.id, { amount_micros: '100001' });
    expect(perCall.status).toBe(402);
    expect(perCall.body.errors.reason).toBe('per_call_max');
    expect((await debit(s.id, { amount_micros: '100000' })).status).toBe(200);
    const daily = await debit(s.id, { amount_micros: '60000' });
    expect(daily.status).toBe(402);
    expect(daily.body.errors.reason).toBe('daily_limit');
    const within = await debit(s.id, { amount_micros: '50000' });
    expect([within.status, within.body]).toEqual([200, expect.objectContaining({ used_micros: '150000' })]);
    const detail = (await call(`${w.url}/sessions/${s.id}`, { headers: me })).body.session;
    expect(detail).toMatchObject({ used_amount: 150000, call_count: 2, remaining: 850000 });
  });

  it('refuses over the spending_cap, then an inactive agent, changing nothing; a replay answers the first result', async () => {
    const agent = await fundedAgent();
    expect((await call(`${w.url}/agents/${agent.id}/policy`, { method: 'PUT', headers: me, body: { spending_cap: 300000 } })).status).toBe(200);
    const s = (await open({ agent_wallet_id: agent.id, deposit_amount: 1 })).body.session;
    const usage = randomUUID();
    const first = await debit(s.id, { usage_id: usage, amount_micros: '200000' });
    expect(first.body).toMatchObject({ used_micros: '200000', remaining_micros: '800000', call_count: 1, duplicate: false });

    const entriesBefore = await w.svc.db.ledgerEntry.count();
    const eventsBefore = await w.svc.db.outboxEvent.count({ where: { type: 'payment.completed' } });
    const cap = await debit(s.id, { amount_micros: '100001' });
    expect([cap.status, cap.body.errors.reason]).toEqual([402, 'spending_cap']);
    expect(cap.body.detail).toBe('Insufficient budget: the agent has spent 200000 of its spending_cap of 300000 micro-USDC');
    expect(await w.svc.db.ledgerEntry.count()).toBe(entriesBefore);
    expect(await w.svc.db.outboxEvent.count({ where: { type: 'payment.completed' } })).toBe(eventsBefore);
    expect(await w.svc.db.agentSpend.findMany({ where: { agentId: agent.id, period: 'total' }, select: { spent: true } })).toEqual([{ spent: 200000n }]);

    await w.svc.db.agentWallet.update({ where: { id: agent.id }, data: { active: false } });
    const inactive = await debit(s.id, { amount_micros: '1' });
    expect([inactive.status, inactive.body.errors.reason]).toEqual([403, 'agent_inactive']);
    const replay = await debit(s.id, { usage_id: usage, amount_micros: '200000' });
    expect(replay.body).toMatchObject({ used_micros: '200000', remaining_micros: '800000', call_count: 1, duplicate: true });
    const other = await debit(s.id, { usage_id: usage, amount_micros: '1' });
    expect(other.status).toBe(409);
    expect((await call(`${w.url}/sessions/${s.id}`, { headers: me })).body.session).toMatchObject({ used_amount: 200000, call_count: 1, remaining: 800000 });
  });

  it('refuses a deposit the wallet cannot cover with 402, unless auto top-up pulls it from the allowance', async () => {
    const agent = await fundedAgent(1_000_000n);
    const poor = await open({ agent_wallet_id: agent.id, deposit_amount: 5 });
    expect(poor.status).toBe(402);
    expect(poor.body.error).toMatch(/Insufficient budget: the agent wallet holds 1.00 USDC, 5.00 USDC is needed/);
    expect(await w.svc.db.paymentSession.count({ where: { agentId: agent.id } })).toBe(0);

    // The owner's wallet allows the agent to pull; auto top-up fires below the threshold.
    const source = await w.newFunder(100_000_000n);
    await (await (w.usdc.connect(source) as Contract).approve(agent.wallet_address, 50_000_000n)).wait();
    const cfg = await call(`${w.url}/agents/${agent.id}`, { method: 'PUT', headers: me, body: { auto_topup_threshold: 10000000, auto_topup_amount: 20000000, auto_topup_source: source.address } });
    expect(cfg.status).toBe(200);
    const r = await open({ agent_wallet_id: agent.id, deposit_amount: 5 });
    expect(r.status).toBe(201);
    expect(await w.balanceOf(agent.wallet_address)).toBe(1_000_000n + 20_000_000n - 5_000_000n);
    expect(BigInt(await w.usdc.allowance(source.address, agent.wallet_address))).toBe(30_000_000n);
    const txs = (await call(`${w.url}/agents/${agent.id}/transactions`, { headers: me })).body.transactions;
    expect(txs.find((t: { type: string }) => t.type === 'auto_topup')).toMatchObject({ from_address: source.address, to_address: agent.wallet_address, amount: '20000000', token: 'USDC' });
    const funded = await w.svc.db.outboxEvent.findMany({ where: { type: 'wallet.agent.funded' }, orderBy: { seq: 'asc' } });
    expect(funded.map((e) => (e.envelope as { data: { source: string; agent_id: string } }).data).filter((d) => d.agent_id === agent.id).map((d) => d.source)).toEqual(['fund', 'auto_topup']);
  });

  it('validates session requests with 400/404 {"error"} and keeps other accounts out', async () => {
    const agent = await fundedAgent(2_000_000n);
    for (const [body, status, message] of [
      [{ deposit_amount: 1 }, 400, /agent_wallet_id is required/],
      [{ agent_wallet_id: agent.id }, 400, /deposit_amount is required/],
      [{ agent_wallet_id: agent.id, deposit_amount: 0 }, 400, /more than 0/],
      [{ agent_wallet_id: agent.id, deposit_amount: 1.0000001 }, 400, /at most 6 decimals/],
      [{ agent_wallet_id: agent.id, deposit_amount: 1, duration: 86401 }, 400, /at most 86400/],
      [{ agent_wallet_id: agent.id, deposit_amount: 1, duration: 0 }, 400, /at least 1 second/],
      [{ agent_wallet_id: randomUUID(), deposit_amount: 1 }, 404, /Agent wallet not found/],
    ] as [unknown, number, RegExp][]) {
      const r = await open(body);
      expect([r.status, r.body.error]).toEqual([status, expect.stringMatching(message)]);
    }
    const s = (await open({ agent_wallet_id: agent.id, deposit_amount: 1 })).body.session;
    const stranger = asUser(uniq('stranger'));
    expect((await open({ agent_wallet_id: agent.id, deposit_amount: 1 }, stranger)).status).toBe(404);
    expect((await call(`${w.url}/sessions/${s.id}`, { headers: stranger })).status).toBe(404);
    expect((await call(`${w.url}/sessions/${s.id}/close`, { method: 'POST', headers: stranger, body: {} })).status).toBe(404);
    expect((await call(`${w.url}/sessions`, { headers: stranger })).body).toEqual({ sessions: [], total: 0, limit: 20, offset: 0 });
  });

  describe('internal contracts for metering', () => {
    it('authorizes by agent id or name against policy, session and balance', async () => {
      const agent = await fundedAgent(3_000_000n);
      const name = (await call(`${w.url}/agents/${agent.id}`, { headers: me })).body.name as string;
      await call(`${w.url}/agents/${agent.id}/policy`, { method: 'PUT', headers: me, body: { allowed_services: ['exa'], per_call_max: 1000000 } });
      const authorize = (body: Record<string, unknown>) => call(`${w.url}/internal/agents/authorize`, { headers: asService(), body: { owner_id: user, ...body } });

      const ok = await authorize({ agent: name.toLowerCase().replace(/[^a-z0-9]+/g, '-'), service: 'api.exa.ai', amount_micros: '10000' });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ allowed: true, code: 'ok', agent_id: agent.id, wallet_address: agent.wallet_address, usdc_balance: '3000000', session: null });
      expect((await authorize({ agent: agent.id, service: 'openai.com' })).body).toMatchObject({ allowed: false, code: 'service_not_allowed' });
      expect((await authorize({ agent: agent.id, service: 'exa.ai', amount_micros: '2000000' })).body).toMatchObject({ allowed: false, code: 'per_call_max' });
      expect((await authorize({ agent: agent.id, service: 'exa.ai', amount_micros: '999999' })).body).toMatchObject({ allowed: true });
      const s = (await open({ agent_wallet_id: agent.id, deposit_amount: 0.5 })).body.session;
      expect((await authorize({ agent: agent.id, service: 'exa.ai', amount_micros: '600000', session_id: s.id })).body).toMatchObject({ allowed: false, code: 'insufficient_session_balance' });
      expect((await authorize({ agent: agent.id, service: 'exa.ai', amount_micros: '10000', session_id: s.id })).body).toMatchObject({ allowed: true, session: { id: s.id, remaining_micros: '500000' } });
      expect((await authorize({ agent: agent.id, amount_micros: '10000000' })).body).toMatchObject({ allowed: false, code: 'per_call_max' });
      expect((await authorize({ agent: 'no-such-bot' })).status).toBe(404);
      expect((await authorize({ agent: agent.id, owner_id: 'another-account' })).status).toBe(404);
      expect((await call(`${w.url}/internal/agents/authorize`, { headers: me, body: { owner_id: user, agent: agent.id } })).status).toBe(403);
    });

    it('signs EIP-3009 authorizations a third party can settle, once per nonce, within policy and balance', async () => {
      const agent = await fundedAgent(2_000_000n);
      const payTo = Wallet.createRandom().address;
      const now = Math.floor(Date.now() / 1000);
      const body = { to: payTo, value: '50000', valid_after: String(now - 600), valid_before: String(now + 300), nonce: hexlify(randomBytes(32)), service: 'exa.ai', usage_id: 'x402-u1' };
      const sign = (b: unknown) => call(`${w.url}/internal/agents/${agent.id}/eip3009-authorizations`, { headers: asService(), body: b });

      const r = await sign(body);
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        authorization: { from: agent.wallet_address, to: payTo, value: '50000', validAfter: body.valid_after, validBefore: body.valid_before, nonce: body.nonce },
        signature: expect.stringMatching(/^0x[0-9a-f]{130}$/),
      });
      const again = await sign(body);
      expect(again.status).toBe(201);
      expect((await sign({ ...body, value: '60000' })).status).toBe(409);
      expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: `x402:${agent.id}:${body.nonce}` } })).toBe(1);

      // A facilitator (here: a fresh relayer) settles it with the token itself.
      const relayer = await w.newFunder(0n);
      const sig = Signature.from(r.body.signature);
      const a = r.body.authorization;
      await (await (w.usdc.connect(relayer) as Contract).transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, sig.v, sig.r, sig.s)).wait();
      expect(await w.balanceOf(payTo)).toBe(50_000n);

      const txs = (await call(`${w.url}/agents/${agent.id}/transactions`, { headers: me })).body.transactions;
      expect(txs[0]).toMatchObject({ type: 'payment', tx_hash: null, to_address: payTo, amount: '50000' });

      await call(`${w.url}/agents/${agent.id}/policy`, { method: 'PUT', headers: me, body: { per_call_max: 10000 } });
      const over = await sign({ ...body, nonce: hexlify(randomBytes(32)) });
      expect(over.status).toBe(402);
      await call(`${w.url}/agents/${agent.id}/policy`, { method: 'PUT', headers: me, body: { per_call_max: null } });
      const broke = await sign({ ...body, value: '5000000', nonce: hexlify(randomBytes(32)) });
      expect(broke.status).toBe(402);
      expect((await sign({ ...body, nonce: '0x12' })).status).toBe(400);
      expect((await call(`${w.url}/internal/agents/${randomUUID()}/eip3009-authorizations`, { headers: asService(), body })).status).toBe(404);
    });
  });
});
