import { randomUUID } from 'node:crypto';
import { eventually } from '@platform/testing';
import { Identity, startIdentity, call, asCaller, stagedEvents, principalFor, BOOTSTRAP } from './support';
import { deliver, newOrg, newUser, orgSnapshot, as } from './org-support';

// Real PostgreSQL on a machine shared with other suites: start-up and teardown can be slow.
jest.setTimeout(30_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;

/** Spec 002 "Agent Identity". */
describe('spec 002 agent identities', () => {
  let id: Identity;
  let alice: Record<string, string>;
  let bob: Record<string, string>;
  let admin: Record<string, string>;

  const buyer = async (owner: string) => {
    const res = await call(id.url, 'POST', '/api/v1/keys', { owner_id: owner });
    return asCaller(id.url, `${res.body.key_id}:${res.body.secret}`);
  };
  const register = async (who: Record<string, string>, body: Record<string, unknown> = {}) => {
    const res = await call(id.url, 'POST', '/api/v1/agents', { display_name: 'My AI Agent', ...body }, who);
    expect(res.status).toBe(201);
    return res.body;
  };
  const expectRefused = async (res: { status: number; body: any }, status: number, before: unknown) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(res.status).toBe(status);
    expect(typeof res.body.detail).toBe('string');
    expect(res.body.error).toBeUndefined();
    expect(await orgSnapshot(id.svc.db)).toEqual(before);
  };

  beforeAll(async () => {
    id = await startIdentity('identity_agent_ids');
    alice = await buyer('alice-agent');
    bob = await buyer('bob-agent');
    admin = await asCaller(id.url, `${BOOTSTRAP.keyId}:${BOOTSTRAP.secret}`);
  });
  afterAll(() => id.stop());

  describe('POST /api/v1/agents', () => {
    it('registers the spec example and answers the documented object', async () => {
      const res = await call(
        id.url,
        'POST',
        '/api/v1/agents',
        { display_name: 'My AI Agent', capabilities: ['nlp', 'inference'], identity_type: 'api_key_only', wallet_address: '0x1234567890abcdef1234567890abcdef12345678' },
        alice,
      );
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        agent_id: expect.stringMatching(UUID),
        display_name: 'My AI Agent',
        identity_type: 'api_key_only',
        capabilities: ['nlp', 'inference'],
        wallet_address: '0x1234567890abcdef1234567890abcdef12345678',
        metadata: {},
        verified: false,
        reputation_score: 0,
        status: 'active',
        owner_id: 'alice-agent',
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
      });
      const [event] = (await stagedEvents(id.svc.db, 'agent.registered')).filter((e) => e.subject === res.body.agent_id);
      expect(event.data).toEqual({ agent_id: res.body.agent_id, owner_id: 'alice-agent', display_name: 'My AI Agent', status: 'active' });
    });

    it('applies the defaults and keeps metadata', async () => {
      const body = await register(alice, { display_name: 'Minimal', metadata: { team: 'core', tier: 2 } });
      expect(body).toMatchObject({ identity_type: 'api_key_only', capabilities: [], wallet_address: null, metadata: { team: 'core', tier: 2 } });
    });

    it.each([
      ['no display_name', {}],
      ['an empty display_name', { display_name: ' ' }],
      ['a display_name of 129 characters', { display_name: 'x'.repeat(129) }],
      ['an unknown identity_type', { display_name: 'a', identity_type: 'password' }],
      ['capabilities that are not an array', { display_name: 'a', capabilities: 'nlp' }],
      ['a capability that is not a slug', { display_name: 'a', capabilities: ['Has Space'] }],
      ['a malformed wallet_address', { display_name: 'a', wallet_address: '0x123' }],
      ['metadata that is an array', { display_name: 'a', metadata: [1, 2] }],
      ['metadata over 8 KB', { display_name: 'a', metadata: { blob: 'x'.repeat(9000) } }],
      ['bad JSON', '{"display_name":'],
    ])('answers 400 {"detail"} for %s and changes nothing', async (_what, body) => {
      const before = await orgSnapshot(id.svc.db);
      await expectRefused(await call(id.url, 'POST', '/api/v1/agents', body, alice), 400, before);
    });

    it('answers 401 {"detail"} without an API key', async () => {
      const before = await orgSnapshot(id.svc.db);
      await expectRefused(await call(id.url, 'POST', '/api/v1/agents', { display_name: 'x' }), 401, before);
    });
  });

  describe('GET /api/v1/agents, /search and /{agent_id}', () => {
    let found: { agent_id: string };
    beforeAll(async () => {
      found = await register(bob, { display_name: 'Zebra Finder 100%', capabilities: ['vision', 'search'] });
      await register(bob, { display_name: 'Zebra Paused', capabilities: ['vision'] });
      const paused = (await call(id.url, 'GET', '/api/v1/agents/search?q=Zebra%20Paused')).body.agents[0];
      await call(id.url, 'PATCH', `/api/v1/agents/${paused.agent_id}`, { status: 'suspended' }, bob);
    });

    it('lists active agents newest first without owner_id, filtered and paginated', async () => {
      const res = await call(id.url, 'GET', '/api/v1/agents?limit=2');
      expect(res.status).toBe(200);
      expect(res.body.count).toBe(2);
      expect(res.body.agents).toHaveLength(2);
      for (const a of res.body.agents) {
        expect(a.status).toBe('active');
        expect(a).not.toHaveProperty('owner_id');
      }
      const all = (await call(id.url, 'GET', '/api/v1/agents?limit=100')).body.agents;
      const second = await call(id.url, 'GET', '/api/v1/agents?limit=1&offset=1');
      expect(second.body.agents[0].agent_id).toBe(all[1].agent_id);
      const suspended = await call(id.url, 'GET', '/api/v1/agents?status=suspended');
      expect(suspended.body.agents.map((a: { display_name: string }) => a.display_name)).toEqual(['Zebra Paused']);
      for (const q of ['limit=0', 'limit=101', 'offset=-1', 'status=gone']) {
        const bad = await call(id.url, 'GET', `/api/v1/agents?${q}`);
        expect(bad.status).toBe(400);
        expect(typeof bad.body.detail).toBe('string');
      }
    });

    it('searches by name (case-insensitive, literal), capability and id', async () => {
      const byName = await call(id.url, 'GET', '/api/v1/agents/search?q=zebra');
      expect(byName.status).toBe(200);
      expect(byName.body).toEqual({ agents: [expect.objectContaining({ agent_id: found.agent_id, display_name: 'Zebra Finder 100%' })], count: 1 });
      expect((await call(id.url, 'GET', '/api/v1/agents/search?q=100%25')).body.count).toBe(1);
      expect((await call(id.url, 'GET', '/api/v1/agents/search?q=%25')).body.count).toBe(1);
      expect((await call(id.url, 'GET', '/api/v1/agents/search?q=_')).body.count).toBe(0);
      expect((await call(id.url, 'GET', '/api/v1/agents/search?q=Search')).body.agents.map((a: { agent_id: string }) => a.agent_id)).toEqual([found.agent_id]);
      expect((await call(id.url, 'GET', `/api/v1/agents/search?q=${found.agent_id.toUpperCase()}`)).body.agents[0].agent_id).toBe(found.agent_id);
      expect((await call(id.url, 'GET', '/api/v1/agents/search?q=vision&status=suspended')).body.count).toBe(1);
      const all = await call(id.url, 'GET', '/api/v1/agents/search');
      expect(all.body.count).toBeGreaterThan(2);
      expect((await call(id.url, 'GET', '/api/v1/agents/search?limit=1&offset=1')).body.agents[0].agent_id).toBe(all.body.agents[1].agent_id);
      expect((await call(id.url, 'GET', `/api/v1/agents/search?q=${'x'.repeat(201)}`)).status).toBe(400);
      expect((await call(id.url, 'GET', '/api/v1/agents/search?limit=101')).status).toBe(400);
    });

    it('gets one agent without owner_id, and 404 {"detail": "Agent not found"} otherwise', async () => {
      const res = await call(id.url, 'GET', `/api/v1/agents/${found.agent_id}`);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(
        ['agent_id', 'capabilities', 'created_at', 'display_name', 'identity_type', 'metadata', 'reputation_score', 'status', 'updated_at', 'verified', 'wallet_address'].sort(),
      );
      for (const missing of [randomUUID(), 'not-a-uuid']) {
        const nf = await call(id.url, 'GET', `/api/v1/agents/${missing}`);
        expect(nf.status).toBe(404);
        expect(nf.body.detail).toBe('Agent not found');
      }
    });
  });

  describe('PATCH and DELETE /api/v1/agents/{agent_id} (owner only)', () => {
    it('lets the owner update every field and stages agent.updated', async () => {
      const agent = await register(alice);
      const res = await call(
        id.url,
        'PATCH',
        `/api/v1/agents/${agent.agent_id}`,
        { display_name: 'Renamed', capabilities: ['summarize'], wallet_address: '0xabcdefabcdefabcdefabcdefabcdefabcdefabcd', metadata: { v: 2 }, status: 'suspended' },
        alice,
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        agent_id: agent.agent_id,
        display_name: 'Renamed',
        capabilities: ['summarize'],
        wallet_address: '0xabcdefabcdefabcdefabcdefabcdefabcdefabcd',
        metadata: { v: 2 },
        status: 'suspended',
        owner_id: 'alice-agent',
      });
      expect((await call(id.url, 'PATCH', `/api/v1/agents/${agent.agent_id}`, { wallet_address: null }, alice)).body.wallet_address).toBeNull();
      const updates = (await stagedEvents(id.svc.db, 'agent.updated')).filter((e) => e.subject === agent.agent_id);
      expect(updates[0].data).toEqual({ agent_id: agent.agent_id, owner_id: 'alice-agent', display_name: 'Renamed', status: 'suspended', verified: false });
    });

    it('refuses another owner with 403 "Not your agent", no key with 401, unknown with 404, and bad bodies with 400, changing nothing', async () => {
      const agent = await register(alice);
      const path = `/api/v1/agents/${agent.agent_id}`;
      const before = await orgSnapshot(id.svc.db);
      const patched = await call(id.url, 'PATCH', path, { display_name: 'Mine now' }, bob);
      await expectRefused(patched, 403, before);
      expect(patched.body.detail).toBe('Not your agent');
      await expectRefused(await call(id.url, 'DELETE', path, undefined, bob), 403, before);
      await expectRefused(await call(id.url, 'PATCH', path, { display_name: 'x' }), 401, before);
      await expectRefused(await call(id.url, 'DELETE', path), 401, before);
      await expectRefused(await call(id.url, 'PATCH', `/api/v1/agents/${randomUUID()}`, { display_name: 'x' }, alice), 404, before);
      await expectRefused(await call(id.url, 'DELETE', `/api/v1/agents/${randomUUID()}`, undefined, alice), 404, before);
      await expectRefused(await call(id.url, 'DELETE', '/api/v1/agents/not-a-uuid', undefined, alice), 404, before);
      await expectRefused(await call(id.url, 'PATCH', path, {}, alice), 400, before);
      await expectRefused(await call(id.url, 'PATCH', path, { status: 'deleted' }, alice), 400, before);
      await expectRefused(await call(id.url, 'PATCH', path, { identity_type: 'did_vc' }, alice), 400, before);
      await expectRefused(await call(id.url, 'PATCH', path, { capabilities: [1] }, alice), 400, before);
      // An admin key is not the owner either.
      await expectRefused(await call(id.url, 'PATCH', path, { display_name: 'x' }, admin), 403, before);
    });

    it('soft-deactivates for the owner, answering the spec shape every time', async () => {
      const agent = await register(alice);
      const res = await call(id.url, 'DELETE', `/api/v1/agents/${agent.agent_id}`, undefined, alice);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'deactivated', agent_id: agent.agent_id });
      expect((await call(id.url, 'GET', `/api/v1/agents/${agent.agent_id}`)).body.status).toBe('deactivated');
      const events = () => stagedEvents(id.svc.db, 'agent.updated').then((es) => es.filter((e) => e.subject === agent.agent_id));
      expect((await events()).map((e) => e.data.status)).toEqual(['deactivated']);
      expect((await call(id.url, 'DELETE', `/api/v1/agents/${agent.agent_id}`, undefined, alice)).body).toEqual(res.body);
      expect(await events()).toHaveLength(1);
    });

    it('lets a spec 003 platform agent manage itself with its pa_ key, whose key stops working once deactivated', async () => {
      const reg = await call(id.url, 'POST', '/api/v1/public/agents/register', { agent_name: 'self-run', capabilities: [], callback_url: 'https://example.com/hook' });
      const self = await asCaller(id.url, reg.body.api_key);
      expect((await call(id.url, 'PATCH', `/api/v1/agents/${reg.body.agent_id}`, { capabilities: ['memory'] }, self)).body.capabilities).toEqual(['memory']);
      expect((await call(id.url, 'DELETE', `/api/v1/agents/${reg.body.agent_id}`, undefined, self)).status).toBe(200);
      await expect(principalFor(id.url, reg.body.api_key)).rejects.toThrow(/401/);
    });
  });

  describe('POST /api/v1/agents/{agent_id}/verify (admin)', () => {
    it('marks the agent verified for an admin key only', async () => {
      const agent = await register(alice);
      const path = `/api/v1/agents/${agent.agent_id}/verify`;
      const before = await orgSnapshot(id.svc.db);
      await expectRefused(await call(id.url, 'POST', path, undefined, alice), 403, before);
      await expectRefused(await call(id.url, 'POST', path), 401, before);
      await expectRefused(await call(id.url, 'POST', `/api/v1/agents/${randomUUID()}/verify`, undefined, admin), 404, before);
      const res = await call(id.url, 'POST', path, undefined, admin);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ agent_id: agent.agent_id, verified: true, owner_id: 'alice-agent' });
      const [event] = (await stagedEvents(id.svc.db, 'agent.updated')).filter((e) => e.subject === agent.agent_id);
      expect(event.data.verified).toBe(true);
    });
  });

  describe('one agent id across the platform', () => {
    const consumed = (e: { id: string }) => eventually(async () => (await id.svc.db.processedEvent.count({ where: { eventId: e.id } })) > 0);

    it('gives a wallets agent its identity under the same id, owned by the wallet owner, once', async () => {
      const org = await newOrg(id);
      const agentId = randomUUID();
      const data = { agent_id: agentId, org_id: org.orgId, owner_id: org.owner.id, name: 'Research Bot', department_id: null, wallet_address: '0x7a3f000000000000000000000000000000000001' };
      const created = await deliver(id, 'wallets', 'wallet.agent.created', agentId, data);
      await consumed(created);
      await id.bus.publish([created as never]);
      await consumed(await deliver(id, 'wallets', 'wallet.agent.created', agentId, data));

      const res = await call(id.url, 'GET', `/api/v1/agents/${agentId}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ agent_id: agentId, display_name: 'Research Bot', wallet_address: data.wallet_address, status: 'active', identity_type: 'api_key_only' });
      expect((await stagedEvents(id.svc.db, 'agent.registered')).filter((e) => e.subject === agentId)).toHaveLength(1);

      // The wallet's owner (a spec 001 user) owns the identity; another user does not.
      const renamed = await as(id, org.owner, 'PATCH', `/api/v1/agents/${agentId}`, { capabilities: ['research'] });
      expect(renamed.status).toBe(200);
      expect(renamed.body.owner_id).toBe(org.owner.id);
      expect((await as(id, org.admin, 'PATCH', `/api/v1/agents/${agentId}`, { capabilities: [] })).status).toBe(403);

      await consumed(await deliver(id, 'wallets', 'wallet.agent.updated', agentId, { ...data, name: 'Research Bot v2' }));
      expect((await call(id.url, 'GET', `/api/v1/agents/${agentId}`)).body.display_name).toBe('Research Bot v2');
      await consumed(await deliver(id, 'wallets', 'wallet.agent.deactivated', agentId, { ...data, name: 'Research Bot v2' }));
      expect((await call(id.url, 'GET', `/api/v1/agents/${agentId}`)).body.status).toBe('deactivated');
      const statuses = (await stagedEvents(id.svc.db, 'agent.updated')).filter((e) => e.subject === agentId).map((e) => [e.data.display_name, e.data.status]);
      expect(statuses).toEqual([
        ['Research Bot', 'active'],
        ['Research Bot v2', 'active'],
        ['Research Bot v2', 'deactivated'],
      ]);
    });

    it('creates the identity from an update that arrives before the creation, and ignores non-uuid ids', async () => {
      const user = await newUser(id);
      const agentId = randomUUID();
      await consumed(
        await deliver(id, 'wallets', 'wallet.agent.updated', agentId, { agent_id: agentId, org_id: null, owner_id: user.id, name: 'Early', department_id: null, wallet_address: '0x7a3f000000000000000000000000000000000002' }),
      );
      expect((await call(id.url, 'GET', `/api/v1/agents/${agentId}`)).body.display_name).toBe('Early');
      const odd = await deliver(id, 'wallets', 'wallet.agent.created', 'research-bot', { agent_id: 'research-bot', org_id: null, owner_id: user.id, name: 'Odd', department_id: null, wallet_address: '0x01' });
      await consumed(odd);
      expect(await id.svc.db.agent.count({ where: { displayName: 'Odd' } })).toBe(0);
    });

    it('takes reputation_score from the agent-wide reputation record', async () => {
      const agent = await register(alice);
      await consumed(await deliver(id, 'reputation', 'reputation.updated', agent.agent_id, { agent_id: agent.agent_id, service_id: 'svc-1', overall_score: 3.5, call_count: 2 }));
      expect((await call(id.url, 'GET', `/api/v1/agents/${agent.agent_id}`)).body.reputation_score).toBe(0);
      await consumed(await deliver(id, 'reputation', 'reputation.updated', agent.agent_id, { agent_id: agent.agent_id, service_id: '', overall_score: 8.72, call_count: 150 }));
      expect((await call(id.url, 'GET', `/api/v1/agents/${agent.agent_id}`)).body.reputation_score).toBe(8.72);
    });
  });
});
