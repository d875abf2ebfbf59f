import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { serviceToken } from '@platform/auth';
import { startTestChain, TestChain } from '@platform/chain';
import { startUpstream, Upstream } from '@platform/testing';
import { startPlatform, client, bearer, TestPlatform } from '../support/platform';

jest.setTimeout(120_000);

/**
 * Spec 001 "Agent Wallets", "Agent Policy", "Funding & Draining", "Transactions", "Fiat
 * On-Ramp", "Payment Sessions" and "Balance": every documented request, sent to the gateway
 * as a client would, against a real local chain and PostgreSQL.
 */
describe('spec 001 agent wallets through the gateway', () => {
  let chain: TestChain;
  let platform: TestPlatform;
  let onramp: Upstream;
  let api: ReturnType<typeof client>;
  let provider: JsonRpcProvider;
  let me: string;
  let myId: string;
  let stranger: string;
  let agent: { id: string; name: string; wallet_address: string };
  const yourWallet = Wallet.createRandom().address;

  async function userToken(): Promise<{ auth: string; id: string }> {
    const email = `dev-${randomBytes(4).toString('hex')}@example.com`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    expect((await api.post('/auth/register', { email, password })).status).toBeLessThan(300);
    const login = await api.post('/auth/login', { email, password });
    expect(login.status).toBe(200);
    return { auth: bearer(login.body.token), id: login.body.user.id };
  }

  beforeAll(async () => {
    chain = await startTestChain();
    onramp = await startUpstream((_req, _body, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: 'onramp-session-token' }));
    });
    platform = await startPlatform('s001wallets', {
      CHAIN_RPC_URL: chain.rpcUrl,
      CHAIN_ID: String(chain.chainId),
      USDC_ADDRESS: chain.usdcAddress,
      TREASURY_PRIVATE_KEY: chain.treasuryPrivateKey,
      DEV_FAUCET: 'true',
      ONRAMP_API_URL: onramp.url,
      AUTO_TOPUP_INTERVAL_MS: '0',
    });
    api = client(platform.url);
    provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    ({ auth: me, id: myId } = await userToken());
    stranger = (await userToken()).auth;
  });
  afterAll(async () => {
    provider?.destroy();
    await platform?.stop();
    await onramp?.close();
    await chain?.stop();
  });

  const usdcOf = async (address: string) => BigInt(await new Contract(chain.usdcAddress, ['function balanceOf(address) view returns (uint256)'], provider).balanceOf(address));
  const faucet = async (address: string, amount: string) => {
    const r = await api.post('/dev/faucet', { address, amount }, me);
    expect(r.status).toBe(200);
    return r.body.tx_hash as string;
  };

  it('POST /agents creates a wallet; GET /agents lists it with its live balance', async () => {
    const created = await api.post('/agents', { name: 'Research Bot', spending_cap: 50000000 }, me);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'Research Bot', wallet_address: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/) });
    agent = created.body;

    const list = await api.get('/agents', me);
    expect(list.status).toBe(200);
    expect(list.body.agents).toEqual([
      {
        id: agent.id,
        name: 'Research Bot',
        wallet_address: agent.wallet_address,
        usdc_balance: '0',
        spending_cap: 50000000,
        active: true,
        auto_topup_threshold: null,
        auto_topup_amount: null,
        auto_topup_source: null,
        department_id: null,
        created_at: expect.any(Number),
      },
    ]);
  });

  it('POST /dev/faucet sends test USDC; POST /agents/:id/fund records it from the chain and sponsors gas once', async () => {
    const hash = await faucet(agent.wallet_address, '25000000');
    expect(hash).toMatch(/^0x[0-9a-f]{64}$/);
    const r = await api.post(`/agents/${agent.id}/fund`, { tx_hash: hash, amount: '25000000' }, me);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ funded: true, amount: '25000000', gas_sponsored: true, gas_tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });

    const one = await api.get(`/agents/${agent.id}`, me);
    expect(one.body).toMatchObject({ id: agent.id, usdc_balance: '25000000', active: true });
  });

  it('refuses funding with a forged amount, a transfer to another address, or a reused hash', async () => {
    const other = (await api.post('/agents', { name: 'Other Bot' }, me)).body;
    const hash = await faucet(agent.wallet_address, '1000000');

    const forged = await api.post(`/agents/${agent.id}/fund`, { tx_hash: hash, amount: '25000000' }, me);
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ error: expect.stringMatching(/does not match the chain/) });

    const elsewhere = await api.post(`/agents/${other.id}/fund`, { tx_hash: hash }, me);
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error).toMatch(/does not transfer USDC/);

    expect((await api.post(`/agents/${agent.id}/fund`, { tx_hash: hash }, me)).status).toBe(200);
    const reused = await api.post(`/agents/${agent.id}/fund`, { tx_hash: hash }, me);
    expect(reused.status).toBe(409);
    expect(reused.body.error).toMatch(/already recorded/);
    expect((await api.get(`/agents/${agent.id}`, me)).body.usdc_balance).toBe('26000000');
  });

  it('PUT /agents/:id updates name, cap and auto top-up settings', async () => {
    const r = await api.put(
      `/agents/${agent.id}`,
      { name: 'Research Bot v2', spending_cap: 100000000, auto_topup_threshold: 10000000, auto_topup_amount: 50000000, auto_topup_source: yourWallet },
      me,
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'Research Bot v2', spending_cap: 100000000, auto_topup_threshold: 10000000, auto_topup_amount: 50000000, auto_topup_source: yourWallet });
  });

  it('GET and PUT /agents/:id/policy', async () => {
    const before = await api.get(`/agents/${agent.id}/policy`, me);
    expect(before.body).toEqual({
      policy: { spending_cap: 100000000, daily_limit: null, monthly_limit: null, per_call_max: null, allowed_services: [], blocked_services: [], require_session: false },
    });
    const r = await api.put(`/agents/${agent.id}/policy`, { daily_limit: 5000000, per_call_max: 500000, allowed_services: ['exa', 'openai'], require_session: true }, me);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      policy: { spending_cap: 100000000, daily_limit: 5000000, monthly_limit: null, per_call_max: 500000, allowed_services: ['exa', 'openai'], blocked_services: [], require_session: true },
    });
  });

  it('POST /agents/:id/key and GET /agents/:id/env export the key', async () => {
    const key = await api.post(`/agents/${agent.id}/key`, {}, me);
    expect(key.status).toBe(200);
    expect(key.body).toEqual({ private_key: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(new Wallet(key.body.private_key).address).toBe(agent.wallet_address);
    const env = await api.get(`/agents/${agent.id}/env`, me);
    expect(env.body).toEqual({ INDIEGENT_AGENT_KEY: key.body.private_key, INDIEGENT_AGENT_ADDRESS: agent.wallet_address });
  });

  it('POST /agents/:id/onramp answers a hosted on-ramp URL', async () => {
    const r = await api.post(`/agents/${agent.id}/onramp`, { amount: 50 }, me);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/), onrampUrl: expect.stringMatching(/^https:\/\/pay\.coinbase\.com\/buy\/select-asset\?sessionToken=onramp-session-token/) });
  });

  it('opens a session, debits it per call, and closes it with an on-chain refund (spec 001 example numbers)', async () => {
    const opened = await api.post('/sessions', { agent_wallet_id: agent.id, deposit_amount: 5.0, duration: 3600 }, me);
    expect(opened.status).toBe(201);
    expect(opened.body).toEqual({
      session: {
        id: expect.any(String),
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
    const id = opened.body.session.id;
    expect(await usdcOf(agent.wallet_address)).toBe(21_000_000n);

    // Metering's per-call debits (service to service; the gateway never routes /internal).
    const wallets = platform.standalone.services.wallets.url;
    const internal = serviceToken('metering', JSON.parse(readFileSync(platform.standalone.secretsFile, 'utf8')).INTERNAL_TOKEN_SECRET);
    for (let i = 0; i < 50; i++) {
      const d = await fetch(`${wallets}/internal/sessions/${id}/debits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-internal-principal': internal },
        body: JSON.stringify({ usage_id: randomUUID(), amount_micros: '10000', service_id: 'exa.ai', provider_id: 'prov-exa', owner_id: myId }),
      });
      expect(d.status).toBe(200);
    }

    const detail = await api.get(`/sessions/${id}`, me);
    expect(detail.body.session).toMatchObject({ id, deposit_amount: 5000000, used_amount: 500000, remaining: 4500000, call_count: 50, status: 'open' });
    const list = await api.get('/sessions', me);
    expect(list.body.sessions.map((s: { id: string }) => s.id)).toContain(id);

    const closed = await api.post(`/sessions/${id}/close`, {}, me);
    expect(closed.status).toBe(200);
    expect(closed.body).toEqual({
      session: { id, status: 'closed', deposit_amount: 5000000, used_amount: 500000, refunded: 4500000, call_count: 50, refund_tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/) },
    });
    expect(await usdcOf(agent.wallet_address)).toBe(25_500_000n);
  });

  it('GET /agents/:id/transactions and GET /transactions page through every type', async () => {
    const r = await api.get(`/agents/${agent.id}/transactions?limit=20&offset=0`, me);
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(5);
    expect(r.body.transactions.map((t: { type: string }) => t.type).sort()).toEqual(['fund', 'fund', 'gas_sponsor', 'session_deposit', 'session_refund']);
    const fund = r.body.transactions.find((t: { type: string; amount: string }) => t.type === 'fund' && t.amount === '25000000');
    expect(fund).toEqual({
      id: expect.any(String),
      tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
      type: 'fund',
      from_address: chain.treasuryAddress,
      to_address: agent.wallet_address,
      amount: '25000000',
      token: 'USDC',
      timestamp: expect.any(Number),
      agent_id: agent.id,
    });
    const page = await api.get('/transactions?limit=2&offset=0', me);
    expect(page.body.transactions).toHaveLength(2);
    expect(page.body.total).toBe(5);
  });

  it('POST /agents/:id/drain sends all USDC back to your wallet', async () => {
    const r = await api.post(`/agents/${agent.id}/drain`, {}, me);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ drained: true, amount: '25500000', tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/), to_address: yourWallet });
    expect(await usdcOf(yourWallet)).toBe(25_500_000n);
    expect((await api.get(`/agents/${agent.id}/transactions?limit=1`, me)).body.transactions[0]).toMatchObject({ type: 'drain', amount: '25500000', to_address: yourWallet });
  });

  it('GET /balance aggregates every agent wallet', async () => {
    const other = (await api.get('/agents', me)).body.agents.find((a: { name: string }) => a.name === 'Other Bot');
    await faucet(other.wallet_address, '3000000');
    const r = await api.get('/balance', me);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      total_usdc: '3000000',
      total_agents: 2,
      active_agents: 2,
      agents: [
        { id: agent.id, name: 'Research Bot v2', usdc_balance: '0', active: true },
        { id: other.id, name: 'Other Bot', usdc_balance: '3000000', active: true },
      ],
    });
  });

  it('DELETE /agents/:id deactivates (draining what is left) and keeps the key exportable', async () => {
    await faucet(agent.wallet_address, '2000000');
    const r = await api.delete(`/agents/${agent.id}`, me);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: agent.id, active: false, drained: true, amount: '2000000', to_address: yourWallet });
    expect((await api.get(`/agents/${agent.id}`, me)).body.active).toBe(false);
    expect((await api.post(`/agents/${agent.id}/key`, {}, me)).status).toBe(200);
  });

  it('answers errors as {"error": …}: 401 without credentials, 404 for another user, 400 for bad input, 402 for an unaffordable deposit', async () => {
    const anon = await api.get('/agents');
    expect(anon.status).toBe(401);
    expect(anon.body).toMatchObject({ error: expect.any(String) });

    const theirs = await api.get(`/agents/${agent.id}`, stranger);
    expect(theirs.status).toBe(404);
    expect(theirs.body).toMatchObject({ error: 'Agent wallet not found' });
    expect((await api.get('/balance', stranger)).body).toEqual({ total_usdc: '0', total_agents: 0, active_agents: 0, agents: [] });

    const bad = await api.post('/agents', { spending_cap: 'lots' }, me);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/name is required/);

    const poor = (await api.post('/agents', { name: 'Poor Bot' }, stranger)).body;
    const r = await api.post('/sessions', { agent_wallet_id: poor.id, deposit_amount: 5 }, stranger);
    expect(r.status).toBe(402);
    expect(r.body.error).toMatch(/^Insufficient budget/);
  });
});
