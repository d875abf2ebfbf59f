import { randomUUID } from 'node:crypto';
import { Wallet } from 'ethers';
import { createEnvelope } from '@platform/events';
import { eventually } from '@platform/testing';
import { KeyVault } from '../src/domain/key-vault';
import { ChainWallets, startWalletsOnChain, asUser, call, uniq } from './chain-helpers';

jest.setTimeout(60_000);

/** Spec 001 agent wallets and policies: shapes, ownership, roles, key export, events. */
describe('agent wallets', () => {
  let w: ChainWallets;
  beforeAll(async () => {
    w = await startWalletsOnChain();
  });
  afterAll(() => w?.stop());

  const user = uniq('user');
  const me = asUser(user);
  const create = (body: unknown, headers = me) => call(`${w.url}/agents`, { body, headers });
  const counts = async () => ({ agents: await w.svc.db.agentWallet.count(), outbox: await w.svc.db.outboxEvent.count() });

  it('creates an agent wallet with an ethers keypair, stores the key only encrypted, and stages wallet.agent.created', async () => {
    const r = await create({ name: 'Research Bot', spending_cap: 50000000 });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'Research Bot', wallet_address: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/) });

    const row = await w.svc.db.agentWallet.findUniqueOrThrow({ where: { id: r.body.id } });
    expect(row.encryptedKey).toMatch(/^v1\./);
    const pk = new KeyVault(w.masterKey).decrypt(row.id, row.encryptedKey);
    expect(new Wallet(pk).address).toBe(r.body.wallet_address);
    expect(row.encryptedKey).not.toContain(pk.slice(2, 20));

    const event = await w.svc.db.outboxEvent.findFirstOrThrow({ where: { type: 'wallet.agent.created', subject: r.body.id } });
    expect((event.envelope as { data: unknown }).data).toEqual({ agent_id: r.body.id, org_id: null, owner_id: user, name: 'Research Bot', department_id: null, wallet_address: r.body.wallet_address });
  });

  it('lists and reads agents with live USDC balances from the chain (spec 001 shape)', async () => {
    const a = (await create({ name: 'Balance Bot', spending_cap: 50000000 })).body;
    const funder = await w.newFunder();
    await w.send(funder, a.wallet_address, 25_000_000n);

    const one = await call(`${w.url}/agents/${a.id}`, { headers: me });
    expect(one.status).toBe(200);
    expect(one.body).toEqual({
      id: a.id,
      name: 'Balance Bot',
      wallet_address: a.wallet_address,
      usdc_balance: '25000000',
      spending_cap: 50000000,
      active: true,
      auto_topup_threshold: null,
      auto_topup_amount: null,
      auto_topup_source: null,
      department_id: null,
      created_at: expect.any(Number),
    });

    const list = await call(`${w.url}/agents?limit=100`, { headers: me });
    expect(list.status).toBe(200);
    expect(list.body.agents.find((x: { id: string }) => x.id === a.id)).toEqual(one.body);
    expect(list.body.total).toBe(list.body.agents.length);

    const page = await call(`${w.url}/agents?limit=1&offset=1`, { headers: me });
    expect(page.body.agents).toHaveLength(1);
    expect(page.body.agents[0].id).toBe(list.body.agents[1].id);
  });

  it('updates name, cap and auto top-up (spec 001 PUT) and stages wallet.agent.updated', async () => {
    const a = (await create({ name: 'Research Bot' })).body;
    const source = Wallet.createRandom().address;
    const dept = randomUUID();
    const r = await call(`${w.url}/agents/${a.id}`, {
      method: 'PUT',
      headers: me,
      body: { name: 'Research Bot v2', spending_cap: 100000000, auto_topup_threshold: 10000000, auto_topup_amount: 50000000, auto_topup_source: source, department_id: dept },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'Research Bot v2', spending_cap: 100000000, auto_topup_threshold: 10000000, auto_topup_amount: 50000000, auto_topup_source: source, department_id: dept });
    const ev = await w.svc.db.outboxEvent.findFirstOrThrow({ where: { type: 'wallet.agent.updated', subject: a.id } });
    expect((ev.envelope as { data: { department_id: string; name: string } }).data).toMatchObject({ department_id: dept, name: 'Research Bot v2' });
  });

  it('reads and updates the policy with the spec 001 shapes', async () => {
    const a = (await create({ name: 'Policy Bot', spending_cap: 50000000 })).body;
    const initial = await call(`${w.url}/agents/${a.id}/policy`, { headers: me });
    expect(initial.body).toEqual({
      policy: { spending_cap: 50000000, daily_limit: null, monthly_limit: null, per_call_max: null, allowed_services: [], blocked_services: [], require_session: false },
    });
    const put = await call(`${w.url}/agents/${a.id}/policy`, {
      method: 'PUT',
      headers: me,
      body: { daily_limit: 5000000, per_call_max: 500000, allowed_services: ['exa', 'openai'], require_session: true },
    });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({
      policy: { spending_cap: 50000000, daily_limit: 5000000, monthly_limit: null, per_call_max: 500000, allowed_services: ['exa', 'openai'], blocked_services: [], require_session: true },
    });
    const cleared = await call(`${w.url}/agents/${a.id}/policy`, { method: 'PUT', headers: me, body: { daily_limit: null, blocked_services: ['anthropic'] } });
    expect(cleared.body.policy).toMatchObject({ daily_limit: null, per_call_max: 500000, blocked_services: ['anthropic'] });
  });

  it.each([
    [{}, /name is required/],
    [{ name: 'x', spending_cap: -1 }, /spending_cap must be a non-negative integer/],
    [{ name: 'x', spending_cap: 1.5 }, /spending_cap/],
    [{ name: 'x', bogus: 1 }, /bogus/],
  ])('POST /agents refuses %j with a 400 {"error"} that says what to fix, creating nothing', async (body, message) => {
    const before = await counts();
    const r = await call(`${w.url}/agents`, { body, headers: me });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(message);
    expect(await counts()).toEqual(before);
  });

  it('refuses bad updates and policies with 400 {"error"}', async () => {
    const a = (await create({ name: 'Strict Bot' })).body;
    const put = (path: string, body: unknown) => call(`${w.url}/agents/${a.id}${path}`, { method: 'PUT', headers: me, body });
    expect((await put('', {})).body.error).toMatch(/at least one/);
    expect((await put('', { auto_topup_source: '0x123' })).body.error).toMatch(/auto_topup_source must be an address/);
    expect((await put('', { auto_topup_source: a.wallet_address })).body.error).toMatch(/another wallet/);
    expect((await put('', { department_id: 'eng' })).body.error).toMatch(/department_id must be a uuid/);
    expect((await put('/policy', { allowed_services: 'exa' })).body.error).toMatch(/allowed_services/);
    expect((await put('/policy', { require_session: 'yes' })).body.error).toMatch(/require_session must be true or false/);
    expect((await put('/policy', {})).status).toBe(400);
    expect((await call(`${w.url}/agents/${a.id}/policy`, { headers: me })).body.policy.allowed_services).toEqual([]);
  });

  it("answers 404 for another account's agent, an unknown id and a malformed id, revealing nothing", async () => {
    const a = (await create({ name: 'Private Bot' })).body;
    const stranger = asUser(uniq('stranger'));
    for (const [method, path, body] of [
      ['GET', `/agents/${a.id}`],
      ['PUT', `/agents/${a.id}`, { name: 'mine' }],
      ['DELETE', `/agents/${a.id}`],
      ['GET', `/agents/${a.id}/policy`],
      ['PUT', `/agents/${a.id}/policy`, { daily_limit: 1 }],
      ['POST', `/agents/${a.id}/key`],
      ['GET', `/agents/${a.id}/env`],
      ['POST', `/agents/${a.id}/fund`, { tx_hash: `0x${'a'.repeat(64)}` }],
      ['POST', `/agents/${a.id}/drain`],
      ['GET', `/agents/${a.id}/transactions`],
      ['POST', `/agents/${a.id}/onramp`],
    ] as [string, string, unknown?][]) {
      const r = await call(`${w.url}${path}`, { method, headers: stranger, body: body ?? (method === 'GET' ? undefined : {}) });
      expect([method, path, r.status, r.body]).toEqual([method, path, 404, expect.objectContaining({ error: 'Agent wallet not found' })]);
    }
    expect((await call(`${w.url}/agents/${randomUUID()}`, { headers: me })).status).toBe(404);
    expect((await call(`${w.url}/agents/not-a-uuid`, { headers: me })).status).toBe(404);
    const mine = await call(`${w.url}/agents/${a.id}`, { headers: me });
    expect(mine.body.name).toBe('Private Bot');
    expect((await call(`${w.url}/agents`, { headers: stranger })).body).toEqual({ agents: [], total: 0, limit: 20, offset: 0 });
  });

  it('scopes agents to the organization and applies its roles: viewers read, members operate, admins manage', async () => {
    const org = uniq('org');
    const owner = asUser(uniq('owner'), { id: org, role: 'owner' });
    const admin = asUser(uniq('admin'), { id: org, role: 'admin' });
    const member = asUser(uniq('member'), { id: org, role: 'member' });
    const viewer = asUser(uniq('viewer'), { id: org, role: 'viewer' });

    const byMember = await create({ name: 'Team Bot' }, member);
    expect(byMember.status).toBe(201);
    const id = byMember.body.id;
    const ev = await w.svc.db.outboxEvent.findFirstOrThrow({ where: { type: 'wallet.agent.created', subject: id } });
    expect((ev.envelope as { data: { org_id: string } }).data.org_id).toBe(org);

    // Everyone in the org sees it; the creator outside the org would not.
    for (const h of [owner, admin, viewer]) expect((await call(`${w.url}/agents/${id}`, { headers: h })).status).toBe(200);
    expect((await call(`${w.url}/agents/${id}`, { headers: asUser(uniq('outsider')) })).status).toBe(404);

    const viewerCreate = await create({ name: 'Nope' }, viewer);
    expect(viewerCreate.status).toBe(403);
    expect(viewerCreate.body.error).toMatch(/member role or higher/);
    expect((await call(`${w.url}/agents/${id}`, { method: 'PUT', headers: viewer, body: { name: 'x' } })).status).toBe(403);

    expect((await call(`${w.url}/agents/${id}`, { method: 'PUT', headers: member, body: { name: 'Team Bot 2' } })).status).toBe(200);
    const capByMember = await call(`${w.url}/agents/${id}`, { method: 'PUT', headers: member, body: { spending_cap: 1 } });
    expect(capByMember.status).toBe(403);
    expect(capByMember.body.error).toMatch(/admin role or higher/);
    expect((await call(`${w.url}/agents/${id}/policy`, { method: 'PUT', headers: member, body: { daily_limit: 1 } })).status).toBe(403);
    expect((await call(`${w.url}/agents/${id}/key`, { method: 'POST', headers: member, body: {} })).status).toBe(403);
    expect((await call(`${w.url}/agents/${id}`, { method: 'DELETE', headers: member })).status).toBe(403);

    expect((await call(`${w.url}/agents/${id}/policy`, { method: 'PUT', headers: admin, body: { daily_limit: 1 } })).status).toBe(200);
    expect((await call(`${w.url}/agents/${id}/key`, { method: 'POST', headers: owner, body: {} })).status).toBe(200);
  });

  it('exports the key and env to an admin only, auditing each export', async () => {
    const a = (await create({ name: 'Export Bot' })).body;
    const key = await call(`${w.url}/agents/${a.id}/key`, { method: 'POST', headers: { ...me, 'x-request-id': 'req-export-1' }, body: {} });
    expect(key.status).toBe(200);
    expect(key.body).toEqual({ private_key: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(key.headers.get('cache-control')).toBe('no-store');
    expect(new Wallet(key.body.private_key).address).toBe(a.wallet_address);

    const env = await call(`${w.url}/agents/${a.id}/env`, { headers: me });
    expect(env.body).toEqual({ INDIEGENT_AGENT_KEY: key.body.private_key, INDIEGENT_AGENT_ADDRESS: a.wallet_address });

    const audit = await w.svc.db.agentKeyAudit.findMany({ where: { agentId: a.id }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((x) => [x.action, x.actorId])).toEqual([
      ['key_export', user],
      ['env_export', user],
    ]);
    expect(audit[0].requestId).toBe('req-export-1');
  });

  it('deactivates an empty agent (spec 001 DELETE), keeps its key exportable and stages wallet.agent.deactivated once', async () => {
    const a = (await create({ name: 'Retired Bot' })).body;
    const del = await call(`${w.url}/agents/${a.id}`, { method: 'DELETE', headers: me });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ id: a.id, active: false, drained: false, amount: '0', tx_hash: null, to_address: null });
    expect((await call(`${w.url}/agents/${a.id}`, { headers: me })).body.active).toBe(false);
    expect((await call(`${w.url}/agents/${a.id}/key`, { method: 'POST', headers: me, body: {} })).status).toBe(200);
    expect((await call(`${w.url}/agents/${a.id}`, { method: 'DELETE', headers: me })).status).toBe(200);
    expect(await w.svc.db.outboxEvent.count({ where: { type: 'wallet.agent.deactivated', subject: a.id } })).toBe(1);
  });

  it('moves agents of a deleted department to Unassigned (department.deleted), once per event', async () => {
    const org = uniq('org-dept');
    const admin = asUser(uniq('admin'), { id: org, role: 'admin' });
    const dept = randomUUID();
    const a = (await create({ name: 'Dept Bot' }, admin)).body;
    await call(`${w.url}/agents/${a.id}`, { method: 'PUT', headers: admin, body: { department_id: dept } });
    const updatesBefore = await w.svc.db.outboxEvent.count({ where: { type: 'wallet.agent.updated', subject: a.id } });

    const event = createEnvelope('identity', 'department.deleted', dept, { department_id: dept, org_id: org, name: 'Engineering', budget_limit: '500000000' });
    await w.bus.publish([event]);
    await w.bus.publish([event]);
    await eventually(async () => (await call(`${w.url}/agents/${a.id}`, { headers: admin })).body.department_id === null);
    await eventually(async () => (await w.svc.db.outboxEvent.count({ where: { type: 'wallet.agent.updated', subject: a.id } })) === updatesBefore + 1);
    expect(await w.svc.db.processedEvent.count({ where: { eventId: event.id } })).toBe(1);
  });

  it('answers the balance overview across all agent wallets (spec 001 GET /balance)', async () => {
    const solo = asUser(uniq('solo'));
    const one = (await create({ name: 'One' }, solo)).body;
    const two = (await create({ name: 'Two' }, solo)).body;
    const funder = await w.newFunder(200_000_000n);
    await w.send(funder, one.wallet_address, 25_000_000n);
    const hash = await w.send(funder, two.wallet_address, 145_200_000n);
    expect((await call(`${w.url}/agents/${two.id}/fund`, { headers: solo, body: { tx_hash: hash } })).status).toBe(200);
    // Deactivation drains the agent back to where its funding came from.
    const del = await call(`${w.url}/agents/${two.id}`, { method: 'DELETE', headers: solo });
    expect(del.body).toMatchObject({ active: false, drained: true, amount: '145200000', to_address: funder.address });
    const r = await call(`${w.url}/balance`, { headers: solo });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      total_usdc: '25000000',
      total_agents: 2,
      active_agents: 1,
      agents: [
        { id: one.id, name: 'One', usdc_balance: '25000000', active: true },
        { id: two.id, name: 'Two', usdc_balance: '0', active: false },
      ],
    });
    expect(r.body.total_usdc).toBe('25000000');
  });

  it('refuses unauthenticated callers with 401 {"error"}', async () => {
    for (const path of ['/agents', '/balance', '/transactions', '/sessions']) {
      const r = await call(`${w.url}${path}`);
      expect([path, r.status, typeof r.body.error]).toEqual([path, 401, 'string']);
    }
  });
});

describe('agent wallets without a chain, and the faucet outside standalone mode', () => {
  it('answers 503 {"error"} naming the missing configuration, and 404 for /dev/faucet', async () => {
    const { startWallets } = await import('./helpers');
    const plain = await startWallets();
    try {
      const r = await call(`${plain.url}/agents`, { headers: asUser('nobody') });
      expect(r.status).toBe(503);
      expect(r.body.error).toMatch(/CHAIN_RPC_URL/);
      expect((await call(`${plain.url}/sessions`, { body: {}, headers: asUser('nobody') })).status).toBe(503);
      expect((await call(`${plain.url}/dev/faucet`, { body: { address: Wallet.createRandom().address, amount: '1' }, headers: asUser('nobody') })).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });
});
