import { randomBytes, randomUUID } from 'node:crypto';
import { Wallet } from 'ethers';
import { startTestChain, TestChain } from '@platform/chain';
import { eventually, startUpstream, Upstream } from '@platform/testing';
import { startPlatform, client, bearer, ADMIN_KEY, TestPlatform } from '../support/platform';
import type { Db as MeteringDb } from '../../services/metering/src/db/client';
import { startLocalFacilitator, startX402Api, usdcBalance, LocalFacilitator, X402Api } from '../../services/metering/test/support/x402-chain';

jest.setTimeout(180_000);

/**
 * Spec 001 "External Fetch" and "Payment Sessions › Using a Session", sent to the gateway as a
 * client would, with the whole platform on real PostgreSQL and a real local chain: agent
 * wallets funded on chain through wallets, sessions, policies, and x402 APIs paid on chain
 * through a facilitator that settles with transferWithAuthorization on the test USDC.
 */
describe('spec 001 external fetch and session-paid calls through the gateway', () => {
  const UPSTREAM_TIMEOUT_MS = 5_000;
  let chain: TestChain;
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  let db: MeteringDb;
  let exa: Upstream;
  let plain: Upstream;
  let facilitator: LocalFacilitator;
  let x402v1: X402Api;
  let x402v2: X402Api;
  const provider = Wallet.createRandom().address;
  let me: string; // the user's JWT
  let igKey: string; // Authorization: Bearer ig_live_… as the spec sends it
  let agent: { id: string; name: string; wallet_address: string };
  let exaId: string;
  let providerAuth: string;

  const balanceOf = (address: string) => usdcBalance(chain.rpcUrl, chain.usdcAddress, address);
  const network = () => `eip155:${chain.chainId}`;

  const fetchAs = (body: unknown, headers: Record<string, string> = {}, auth = igKey) => api.post('/external/fetch', body, { authorization: auth, 'x-agent-wallet': 'research-bot', ...headers });

  async function newUser(): Promise<{ jwt: string; key: string }> {
    const email = `agent-${randomBytes(4).toString('hex')}@example.com`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    expect((await api.post('/auth/register', { email, password })).status).toBeLessThan(300);
    const login = await api.post('/auth/login', { email, password });
    expect(login.status).toBe(200);
    const jwt = bearer(login.body.token);
    const key = await api.post('/api-keys', { name: 'agent key' }, jwt);
    expect(key.status).toBe(201);
    return { jwt, key: bearer(key.body.key) };
  }

  /** An agent wallet funded on chain: test USDC from the faucet, recorded by wallets from the chain. */
  async function fundedAgent(auth: string, name: string, micros: string) {
    const created = await api.post('/agents', { name }, auth);
    expect(created.status).toBe(201);
    const drip = await api.post('/dev/faucet', { address: created.body.wallet_address, amount: micros }, auth);
    expect(drip.status).toBe(200);
    const funded = await api.post(`/agents/${created.body.id}/fund`, { tx_hash: drip.body.tx_hash, amount: micros }, auth);
    expect(funded.status).toBe(200);
    return created.body as { id: string; name: string; wallet_address: string };
  }

  async function openSession(auth: string, agentId: string, dollars: number): Promise<string> {
    const r = await api.post('/sessions', { agent_wallet_id: agentId, deposit_amount: dollars, duration: 3600 }, auth);
    expect(r.status).toBe(201);
    return r.body.session.id;
  }

  async function register(body: Record<string, unknown>): Promise<string> {
    const r = await api.post('/api/v1/services', { description: 'spec 001 external fetch', category: 'data', tags: [], ...body }, providerAuth);
    expect(r.status).toBe(201);
    await eventually(async () => (await db.servicePrice.findUnique({ where: { serviceId: r.body.id } })) !== null, 10_000, 50);
    return r.body.id;
  }

  const calledEvents = async (usageId: string) =>
    (await db.outboxEvent.findMany({ where: { type: 'service.called' } }))
      .map((e) => (e.envelope as { data: Record<string, unknown> }).data)
      .filter((d) => d.usage_id === usageId);

  beforeAll(async () => {
    chain = await startTestChain();
    platform = await startPlatform('s001fetch', {
      CHAIN_RPC_URL: chain.rpcUrl,
      CHAIN_ID: String(chain.chainId),
      USDC_ADDRESS: chain.usdcAddress,
      TREASURY_PRIVATE_KEY: chain.treasuryPrivateKey,
      DEV_FAUCET: 'true',
      AUTO_TOPUP_INTERVAL_MS: '0',
      UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_IP_BURST: '100000',
    });
    api = client(platform.url);
    db = platform.standalone.services.metering.running.db as unknown as MeteringDb;
    exa = await startUpstream((req, body, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ results: [{ title: 'Attention Is All You Need' }], path: req.url, received: body ? JSON.parse(body) : null }));
    });
    plain = await startUpstream((req, _body, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ data: [1, 2, 3], path: req.url }));
    });
    facilitator = await startLocalFacilitator({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, usdcAddress: chain.usdcAddress, network: network() });
    const x402 = { facilitatorUrl: facilitator.url, network: network(), chainId: chain.chainId, asset: chain.usdcAddress, priceMicros: 30_000n, payTo: provider };
    x402v1 = await startX402Api({ ...x402, version: 1 });
    x402v2 = await startX402Api({ ...x402, version: 2 });

    ({ jwt: me, key: igKey } = await newUser());
    agent = await fundedAgent(me, 'Research Bot', '25000000');

    const p = await api.post('/api/v1/keys', { owner_id: 'exa-provider', role: 'provider' }, bearer(ADMIN_KEY));
    expect(p.status).toBe(201);
    providerAuth = bearer(`${p.body.key_id}:${p.body.secret}`);
    exaId = await register({ name: 'Exa', endpoint: exa.url, price_per_call: '0.01' });
  });
  afterAll(async () => {
    await platform?.stop();
    await Promise.all([exa?.close(), plain?.close(), x402v1?.close(), x402v2?.close(), facilitator?.close()]);
    await chain?.stop();
  });

  describe('POST /external/fetch', () => {
    it('runs the spec example: a registered API priced per call, debited from the session', async () => {
      const session = await openSession(me, agent.id, 5.0);
      const r = await fetchAs(
        { url: `${exa.url}/search`, method: 'POST', headers: { 'Content-Type': 'application/json' }, body: { query: 'latest AI research papers', num_results: 10 }, max_cost: 0.05 },
        { 'x-session-id': session },
      );
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        status: 200,
        headers: expect.objectContaining({ 'content-type': 'application/json' }),
        body: { results: [{ title: 'Attention Is All You Need' }], path: '/search', received: { query: 'latest AI research papers', num_results: 10 } },
        _indiegent: { cost: '$0.0100', payment_method: 'session', session_remaining: '$4.9900', service: 'exa', agent: 'research-bot' },
      });
      // The platform's credentials and payment headers never reach the API.
      const sent = exa.requests.at(-1)!;
      expect(sent.headers.authorization).toBeUndefined();
      expect(sent.headers['x-agent-wallet']).toBeUndefined();
      expect(sent.headers['x-session-id']).toBeUndefined();

      expect((await api.get(`/sessions/${session}`, me)).body.session).toMatchObject({ used_amount: 10000, remaining: 4990000, call_count: 1 });
      const usageId = r.headers.get('x-acf-usage-id')!;
      expect(await db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).toMatchObject({
        status: 'completed',
        channel: 'external',
        serviceId: exaId,
        amountMicros: 10_000n,
        paymentMethod: 'session',
        sessionId: session,
        agentId: agent.id,
      });
      await eventually(async () => (await calledEvents(usageId)).length === 1);
      expect((await calledEvents(usageId))[0]).toMatchObject({ service_id: exaId, provider_id: 'exa-provider', amount_micros: '10000', payment_method: 'session' });
    });

    it('runs the curl example: GET a URL no service is registered for, within max_cost, costs nothing', async () => {
      const r = await fetchAs({ url: `${plain.url}/v1/data`, method: 'GET', max_cost: 0.1 });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        status: 200,
        headers: expect.objectContaining({ 'content-type': 'application/json' }),
        body: { data: [1, 2, 3], path: '/v1/data' },
        _indiegent: { cost: '$0.0000', payment_method: 'none', session_remaining: null, service: '127.0.0.1', agent: 'research-bot' },
      });
    });

    it('pays an x402 API on chain from the agent wallet: the provider gets exactly the price, one usage record, one service.called', async () => {
      const [providerBefore, agentBefore] = [await balanceOf(provider), await balanceOf(agent.wallet_address)];
      const r = await fetchAs({ url: `${x402v1.url}/search`, method: 'POST', body: { query: 'latest AI research papers' }, max_cost: 0.05 });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        status: 200,
        body: { results: [{ title: 'Attention Is All You Need', url: 'https://arxiv.org/abs/1706.03762' }], path: '/search', received: '{"query":"latest AI research papers"}' },
        _indiegent: { cost: '$0.0300', payment_method: 'x402', session_remaining: null, service: '127.0.0.1', agent: 'research-bot' },
      });
      expect(r.body.headers['x-payment-response']).toEqual(expect.any(String));
      expect(await balanceOf(provider)).toBe(providerBefore + 30_000n);
      expect(await balanceOf(agent.wallet_address)).toBe(agentBefore - 30_000n);
      expect(facilitator.settlements).toHaveLength(1);
      // Sent once unpaid (the 402) and once with the payment.
      expect(x402v1.requests.map((q) => q.paid)).toEqual([false, true]);

      const usageId = r.headers.get('x-acf-usage-id')!;
      expect(r.headers.get('x-acf-amount')).toBe('0.03');
      expect(await db.usageRecord.count({ where: { id: usageId } })).toBe(1);
      expect(await db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).toMatchObject({ status: 'completed', amountMicros: 30_000n, paymentMethod: 'x402', chargeMethod: 'none', statusCode: 200 });
      expect(await db.x402Payment.findUniqueOrThrow({ where: { usageId } })).toMatchObject({ status: 'settled', amountMicros: 30_000n, payTo: provider, transaction: facilitator.settlements[0].transaction });
      await eventually(async () => (await calledEvents(usageId)).length === 1);
      expect(await calledEvents(usageId)).toEqual([expect.objectContaining({ amount_micros: '30000', payment_method: 'x402', status_code: 200 })]);
    });

    it('pays an x402 v2 API (PAYMENT-REQUIRED / PAYMENT-SIGNATURE) from the wallet even with a session open', async () => {
      const session = await openSession(me, agent.id, 1.0);
      const before = await balanceOf(provider);
      const r = await fetchAs({ url: `${x402v2.url}/v2/search`, method: 'GET' }, { 'x-session-id': session });
      expect(r.status).toBe(200);
      expect(r.body._indiegent).toEqual({ cost: '$0.0300', payment_method: 'x402', session_remaining: '$1.0000', service: '127.0.0.1', agent: 'research-bot' });
      expect(r.body.headers['payment-response']).toEqual(expect.any(String));
      expect(await balanceOf(provider)).toBe(before + 30_000n);
      expect((await api.get(`/sessions/${session}`, me)).body.session).toMatchObject({ used_amount: 0, call_count: 0 });
    });

    it('refuses with 422 when the price is over max_cost, paying and charging nothing', async () => {
      const [providerBefore, settled, payments, events] = [await balanceOf(provider), facilitator.settlements.length, await db.x402Payment.count(), await db.outboxEvent.count({ where: { type: 'service.called' } })];
      const x402 = await fetchAs({ url: `${x402v1.url}/search`, method: 'GET', max_cost: 0.01 });
      expect(x402.status).toBe(422);
      expect(x402.body).toEqual({ error: 'Cost exceeds max_cost: the service charges $0.0300, more than max_cost ($0.0100)', details: { reason: 'max_cost' }, request_id: expect.any(String) });

      const session = await openSession(me, agent.id, 1.0);
      const registered = await fetchAs({ url: `${exa.url}/search`, method: 'POST', body: { query: 'x' }, max_cost: 0.005 }, { 'x-session-id': session });
      expect(registered.status).toBe(422);
      expect(registered.body.error).toBe('Cost exceeds max_cost: Exa charges $0.0100 per call, more than max_cost ($0.0050)');

      expect(await balanceOf(provider)).toBe(providerBefore);
      expect(facilitator.settlements).toHaveLength(settled);
      expect(await db.x402Payment.count()).toBe(payments);
      expect((await api.get(`/sessions/${session}`, me)).body.session).toMatchObject({ used_amount: 0, call_count: 0 });
      expect(await db.outboxEvent.count({ where: { type: 'service.called' } })).toBe(events);
      expect(await db.usageRecord.findFirstOrThrow({ where: { channel: 'external' }, orderBy: { createdAt: 'desc' } })).toMatchObject({ status: 'refused', amountMicros: 0n });
    });

    it("applies the agent's policy on every call: blocked 403, not allowed 403, per_call_max 402, require_session 403", async () => {
      const bot = await fundedAgent(me, 'Policy Bot', '1000000');
      const as = (body: object, headers: Record<string, string> = {}) => fetchAs(body, { 'x-agent-wallet': bot.id, ...headers });
      const setPolicy = async (p: object) => expect((await api.put(`/agents/${bot.id}/policy`, p, me)).status).toBe(200);
      const before = await balanceOf(bot.wallet_address);

      await setPolicy({ blocked_services: ['127.0.0.1'] });
      const blocked = await as({ url: `${x402v1.url}/search` });
      expect(blocked.status).toBe(403);
      expect(blocked.body).toMatchObject({ error: 'Service 127.0.0.1 is blocked by this agent\'s policy', details: { reason: 'service_blocked' } });

      await setPolicy({ blocked_services: [], allowed_services: ['exa', 'openai'] });
      const notAllowed = await as({ url: `${x402v1.url}/search` });
      expect(notAllowed.status).toBe(403);
      expect(notAllowed.body.error).toBe("Service 127.0.0.1 is not in this agent's allowed_services");

      await setPolicy({ allowed_services: [], per_call_max: 20000 });
      const perCall = await as({ url: `${x402v1.url}/search` });
      expect(perCall.status).toBe(402);
      expect(perCall.body.error).toMatch(/^Insufficient budget: the service charges \$0\.0300 per call, over this agent's per_call_max of \$0\.0200/);

      await setPolicy({ per_call_max: null, require_session: true });
      const noSession = await as({ url: `${plain.url}/v1/data` });
      expect(noSession.status).toBe(403);
      expect(noSession.body).toMatchObject({ error: "This agent's policy requires a payment session (X-Session-Id)", details: { reason: 'session_required' } });

      expect(await balanceOf(bot.wallet_address)).toBe(before);
    });

    it('an agent named by its id pays from its session in one wallets round trip: the session debit applies the policy', async () => {
      const bot = await fundedAgent(me, 'Session Bot', '1000000');
      const session = await openSession(me, bot.id, 0.5);
      const wallets = platform.standalone.services.wallets.running.server;
      const seen: string[] = [];
      const spy = (req: { url?: string }) => void seen.push(req.url ?? '');
      wallets.on('request', spy);
      const as = (headers: Record<string, string> = {}) =>
        fetchAs({ url: `${exa.url}/search`, method: 'POST', body: { query: 'q' } }, { 'x-agent-wallet': bot.id, 'x-session-id': session, ...headers });
      const setPolicy = async (p: object) => expect((await api.put(`/agents/${bot.id}/policy`, p, me)).status).toBe(200);
      try {
        const paid = await as();
        expect(paid.status).toBe(200);
        expect(paid.body._indiegent).toEqual({ cost: '$0.0100', payment_method: 'session', session_remaining: '$0.4900', service: 'exa', agent: bot.id });
        expect(seen.filter((u) => u.startsWith('/internal/'))).toEqual([`/internal/sessions/${session}/debits`]);

        // Everything authorize would refuse, the debit refuses: recorded as refused, nothing charged, no event.
        const events = await db.outboxEvent.count({ where: { type: 'service.called' } });
        await setPolicy({ blocked_services: ['exa'] });
        const blocked = await as();
        expect(blocked.status).toBe(403);
        expect(blocked.body).toMatchObject({ error: "Service exa is blocked by this agent's policy", details: { reason: 'service_blocked' } });
        await setPolicy({ blocked_services: [], per_call_max: 5000 });
        const perCall = await as();
        expect(perCall.status).toBe(402);
        expect(perCall.body.details).toEqual({ reason: 'per_call_max' });
        await setPolicy({ per_call_max: null });
        // Another agent's id with this session: the session is not that agent's.
        const stranger = await as({ 'x-agent-wallet': agent.id });
        expect(stranger.status).toBe(404);
        expect(stranger.body).toMatchObject({ error: 'Session not found for this agent', details: { reason: 'session_not_found' } });

        expect((await api.get(`/sessions/${session}`, me)).body.session).toMatchObject({ used_amount: 10000, call_count: 1 });
        expect(await db.outboxEvent.count({ where: { type: 'service.called' } })).toBe(events);
        const refused = await db.usageRecord.findMany({ where: { sessionId: session, status: 'refused' } });
        expect(refused).toHaveLength(3);
        expect(refused.every((r) => r.amountMicros === 0n || r.amountMicros === 10_000n)).toBe(true);
        expect(seen.filter((u) => u.includes('/internal/agents/authorize'))).toEqual([]);
      } finally {
        wallets.off('request', spy);
      }
    });

    it('answers 402 when the session cannot cover the price', async () => {
      const session = await openSession(me, agent.id, 0.005);
      const r = await fetchAs({ url: `${exa.url}/search`, method: 'POST', body: { query: 'x' } }, { 'x-session-id': session });
      expect(r.status).toBe(402);
      expect(r.body).toMatchObject({ error: 'Insufficient budget: the session has 0.005 USDC left', details: { reason: 'insufficient_session_balance' } });
    });

    it('answers 400, 401, 403 and 404 in the spec 001 error shape and changes nothing', async () => {
      const records = await db.usageRecord.count();
      const cases: [Promise<{ status: number; body: { error?: string } }>, number, RegExp][] = [
        [api.post('/external/fetch', { url: `${plain.url}/x` }, { 'x-agent-wallet': 'research-bot' }), 401, /API key/],
        [fetchAs({ url: `${plain.url}/x` }, { 'x-agent-wallet': '' }), 400, /X-Agent-Wallet/],
        [api.post('/external/fetch', { url: `${plain.url}/x` }, { authorization: igKey }), 400, /X-Agent-Wallet header is required/],
        [fetchAs({ method: 'GET' }), 400, /^url: url is required/],
        [fetchAs({ url: 'not a url' }), 400, /is not a valid URL/],
        [fetchAs({ url: 'ftp://example.com/file' }), 400, /http or https/],
        [fetchAs({ url: `${plain.url}/x`, method: 'FETCH' }), 400, /^method: method must be one of GET, POST, PUT, PATCH, DELETE/],
        [fetchAs({ url: `${plain.url}/x`, max_cost: -1 }), 400, /max_cost must be a non-negative number/],
        [fetchAs({ url: `${plain.url}/x`, headers: { 'Bad Header': 'x' } }), 400, /header names must be HTTP tokens/],
        [fetchAs({ url: `${plain.url}/x`, method: 'GET', body: { a: 1 } }), 400, /body is sent with POST/],
        [api.send('POST', '/external/fetch', '{"url": ', { authorization: igKey, 'x-agent-wallet': 'research-bot' }), 400, /not valid JSON/],
        [fetchAs({ url: 'http://10.20.30.40/internal' }), 403, /private, loopback or link-local/],
        [fetchAs({ url: `${plain.url}/x` }, { 'x-agent-wallet': 'nobody-bot' }), 404, /^Agent wallet not found$/],
        [fetchAs({ url: `${plain.url}/x` }, { 'x-session-id': randomUUID() }), 404, /Session not found/],
      ];
      for (const [reply, status, message] of cases) {
        const r = await reply;
        expect([r.status, r.body.error]).toEqual([status, expect.stringMatching(message)]);
      }
      expect(await db.usageRecord.count()).toBe(records);
    });

    it('a settlement that times out is paid once: the retry with the same Idempotency-Key resumes the same payment', async () => {
      const slowFacilitator = await startLocalFacilitator({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, usdcAddress: chain.usdcAddress, network: network(), delayFirstSettleMs: UPSTREAM_TIMEOUT_MS * 3 });
      const payTo = Wallet.createRandom().address;
      const slowApi = await startX402Api({ facilitatorUrl: slowFacilitator.url, version: 1, network: network(), chainId: chain.chainId, asset: chain.usdcAddress, priceMicros: 20_000n, payTo });
      try {
        const agentBefore = await balanceOf(agent.wallet_address);
        const key = `fetch-${randomUUID()}`;
        const call = () => fetchAs({ url: `${slowApi.url}/search`, method: 'POST', body: { query: 'q' }, max_cost: 0.05 }, { 'idempotency-key': key });

        const first = await call();
        expect(first.status).toBe(504);
        expect(first.body.error).toMatch(/retry with the same Idempotency-Key/);
        const usageId = first.body.details.usage_id as string;
        expect(await db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).toMatchObject({ status: 'unsettled' });
        // The transfer went through although its answer did not come back in time.
        await eventually(async () => (await balanceOf(payTo)) === 20_000n);

        const retry = await call();
        expect(retry.status).toBe(200);
        expect(retry.body._indiegent).toMatchObject({ cost: '$0.0200', payment_method: 'x402' });
        expect(retry.headers.get('x-acf-usage-id')).toBe(usageId);
        expect(await balanceOf(payTo)).toBe(20_000n);
        expect(await balanceOf(agent.wallet_address)).toBe(agentBefore - 20_000n);
        expect(slowFacilitator.settlements).toHaveLength(1);
        // The same authorization went out both times.
        const paid = slowApi.requests.filter((q) => q.paid);
        expect(paid).toHaveLength(2);
        expect(await db.usageRecord.count({ where: { idempotencyKey: key } })).toBe(1);
        expect(await db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).toMatchObject({ status: 'completed', amountMicros: 20_000n, paymentMethod: 'x402' });
        await eventually(async () => (await calledEvents(usageId)).length === 1);

        // A third try is a replay: nothing is sent or paid again.
        const replay = await call();
        expect(replay.status).toBe(200);
        expect(replay.headers.get('x-acf-replayed')).toBe('true');
        expect(replay.body._indiegent.cost).toBe('$0.0200');
        expect(slowApi.requests.filter((q) => q.paid)).toHaveLength(2);
        expect(await balanceOf(payTo)).toBe(20_000n);
      } finally {
        await slowApi.close();
        await slowFacilitator.close();
      }
    });
  });

  describe('POST /services/{slug}/... (Using a Session)', () => {
    it('runs the spec example: the price is debited from the session and _indiegent is added to the answer', async () => {
      const session = await openSession(me, agent.id, 5.0);
      const r = await api.post('/services/exa/search', { query: 'latest AI research papers' }, { authorization: igKey, 'x-session-id': session, 'x-agent-wallet': agent.id });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        results: [{ title: 'Attention Is All You Need' }],
        path: '/search',
        received: { query: 'latest AI research papers' },
        _indiegent: { payment: 'session', session_id: session, session_remaining: '$4.9900', cost: '$0.0100' },
      });
      expect(r.headers.get('x-acf-amount')).toBe('0.01');
      expect((await api.get(`/sessions/${session}`, me)).body.session).toMatchObject({ used_amount: 10000, call_count: 1 });
    });

    it('without X-Session-Id the price comes from the prepaid balance: 402 until it is funded', async () => {
      const short = await api.post('/services/exa/search', { query: 'q' }, { authorization: igKey, 'x-agent-wallet': 'research-bot' });
      expect(short.status).toBe(402);
      expect(short.body.error).toMatch(/Insufficient balance/);
      expect((await api.post('/dev/balance/fund', { amount: '1.00' }, igKey)).status).toBe(200);
      const r = await api.post('/services/exa/search', { query: 'q' }, { authorization: igKey, 'x-agent-wallet': 'research-bot' });
      expect(r.status).toBe(200);
      expect(r.body._indiegent).toEqual({ payment: 'balance', session_id: null, session_remaining: null, cost: '$0.0100' });
      expect((await api.get('/dev/balance', igKey)).body.balance_micros).toBe('990000');
    });

    it("a prepaid-balance call counts against the agent's budget: over its daily_limit 402, nothing taken", async () => {
      const created = await api.post('/agents', { name: 'Budget Bot' }, me);
      expect(created.status).toBe(201);
      const botId: string = created.body.id;
      expect((await api.put(`/agents/${botId}/policy`, { daily_limit: 15000 }, me)).status).toBe(200);
      expect((await api.post('/dev/balance/fund', { amount: '1.00' }, igKey)).status).toBe(200);
      const call = () => api.post('/services/exa/search', { query: 'q' }, { authorization: igKey, 'x-agent-wallet': botId });
      const balance = async () => BigInt((await api.get('/dev/balance', igKey)).body.balance_micros);

      const before = await balance();
      expect((await call()).status).toBe(200);
      expect(await balance()).toBe(before - 10_000n);
      const over = await call();
      expect(over.status).toBe(402);
      expect(over.body).toMatchObject({ details: { reason: 'daily_limit' } });
      expect(await balance()).toBe(before - 10_000n);

      // The limit lifted, the same agent pays again.
      expect((await api.put(`/agents/${botId}/policy`, { daily_limit: null }, me)).status).toBe(200);
      expect((await call()).status).toBe(200);
      expect(await balance()).toBe(before - 20_000n);
    });

    it('refuses an unknown slug (404), a missing X-Agent-Wallet (400) and a closed session (409)', async () => {
      expect((await api.post('/services/nope/search', {}, { authorization: igKey, 'x-agent-wallet': 'research-bot' })).body).toMatchObject({ error: 'Service "nope" not found' });
      const missing = await api.post('/services/exa/search', {}, { authorization: igKey });
      expect([missing.status, missing.body.error]).toEqual([400, expect.stringMatching(/X-Agent-Wallet header is required/)]);
      const session = await openSession(me, agent.id, 0.5);
      expect((await api.post(`/sessions/${session}/close`, {}, me)).status).toBe(200);
      const closed = await api.post('/services/exa/search', {}, { authorization: igKey, 'x-agent-wallet': 'research-bot', 'x-session-id': session });
      expect(closed.status).toBe(409);
      expect(closed.body.error).toBe('Session is closed');
    });
  });

  describe('spec 002 proxy with spec 001 payment headers', () => {
    let buyer: string;
    let buyerAgent: { id: string; wallet_address: string };

    beforeAll(async () => {
      const k = await api.post('/api/v1/keys', { owner_id: `buyer-${randomBytes(3).toString('hex')}`, role: 'buyer', rate_limit: 1000 }, bearer(ADMIN_KEY));
      expect(k.status).toBe(201);
      buyer = bearer(`${k.body.key_id}:${k.body.secret}`);
      buyerAgent = await fundedAgent(buyer, 'Proxy Bot', '5000000');
    });

    it('X-Session-Id pays the price from the session', async () => {
      const session = await openSession(buyer, buyerAgent.id, 1.0);
      const r = await fetch(`${platform.url}/api/v1/proxy/${exaId}/search`, { method: 'POST', headers: { authorization: buyer, 'content-type': 'application/json', 'x-session-id': session }, body: '{"q":1}' });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-acf-amount')).toBe('0.01');
      expect((await api.get(`/sessions/${session}`, buyer)).body.session).toMatchObject({ used_amount: 10000, call_count: 1 });
    });

    it('X-Agent-Wallet pays an x402 provider on chain; the balance charge is given back and the x402 price billed', async () => {
      const payTo = Wallet.createRandom().address;
      const premium = await startX402Api({ facilitatorUrl: facilitator.url, version: 2, network: network(), chainId: chain.chainId, asset: chain.usdcAddress, priceMicros: 40_000n, payTo });
      try {
        const id = await register({ name: 'Premium Search', endpoint: `${premium.url}/v1`, price_per_call: '0.05' });
        expect((await api.post('/dev/balance/fund', { amount: '1.00' }, buyer)).status).toBe(200);
        const r = await fetch(`${platform.url}/api/v1/proxy/${id}/search`, { method: 'POST', headers: { authorization: buyer, 'content-type': 'application/json', 'x-agent-wallet': 'proxy-bot' }, body: '{"q":"x402"}' });
        expect(r.status).toBe(200);
        expect(await r.json()).toMatchObject({ results: [expect.any(Object)], path: '/v1/search', received: '{"q":"x402"}' });
        expect(r.headers.get('x-acf-amount')).toBe('0.04');
        expect(r.headers.get('payment-response')).toEqual(expect.any(String));
        expect(await balanceOf(payTo)).toBe(40_000n);
        const usageId = r.headers.get('x-acf-usage-id')!;
        await eventually(async () => (await db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).refund === 'done');
        expect(await db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).toMatchObject({ amountMicros: 40_000n, paymentMethod: 'x402', chargeMethod: 'balance', status: 'completed' });
        expect((await api.get('/dev/balance', buyer)).body.balance_micros).toBe('1000000');
        await eventually(async () => (await calledEvents(usageId)).length === 1);
      } finally {
        await premium.close();
      }
    });

    it('without X-Agent-Wallet an x402 provider’s 402 is passed through and nothing is billed', async () => {
      const premium = await startX402Api({ facilitatorUrl: facilitator.url, version: 1, network: network(), chainId: chain.chainId, asset: chain.usdcAddress, priceMicros: 40_000n, payTo: provider });
      try {
        const id = await register({ name: 'Premium Search v1', endpoint: premium.url, price_per_call: '0.05' });
        const before = (await api.get('/dev/balance', buyer)).body.balance_micros;
        const r = await fetch(`${platform.url}/api/v1/proxy/${id}/search`, { headers: { authorization: buyer } });
        expect(r.status).toBe(402);
        expect(await r.json()).toMatchObject({ x402Version: 1, accepts: [expect.objectContaining({ maxAmountRequired: '40000' })] });
        expect(r.headers.get('x-acf-amount')).toBe('0');
        await eventually(async () => (await api.get('/dev/balance', buyer)).body.balance_micros === before);
      } finally {
        await premium.close();
      }
    });
  });
});
