import { eventually } from '@platform/testing';
import type { AnyEnvelope } from '@platform/events';
import { startMarketplace, Marketplace, call, principal, agentPrincipal } from './support/harness';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;

// Each suite starts its own service on a fresh database; under a loaded machine that takes seconds.
jest.setTimeout(30_000);

/** Spec 003 "Plugins": the registry, installs on agents known from identity's events. */
describe('plugins', () => {
  let m: Marketplace;
  let base: string;
  const heard: AnyEnvelope[] = [];
  const org = principal('org-1', 'buyer');
  const stranger = principal('org-2', 'provider');
  const admin = principal('root', 'admin');
  const AGENT = '550e8400-e29b-41d4-a716-446655440001';
  const SELF = '550e8400-e29b-41d4-a716-446655440002';
  const SUSPENDED = '550e8400-e29b-41d4-a716-446655440003';

  const snapshot = async () => ({
    installs: await m.svc.db.pluginInstall.findMany({ orderBy: { id: 'asc' } }),
    plugins: await m.svc.db.plugin.findMany({ orderBy: { id: 'asc' } }),
    events: await m.svc.db.outboxEvent.count(),
  });
  const installCount = async (id: string) => (await call(base, 'GET', `/api/v1/plugins/${id}`)).body.install_count;

  beforeAll(async () => {
    m = await startMarketplace();
    base = m.svc.url;
    await m.bus.subscribe({ group: 'test-runtime', types: ['plugin.installed', 'plugin.uninstalled'], handler: async (e) => void heard.push(e) });
    await m.emit('identity', 'agent.registered', AGENT, { agent_id: AGENT, owner_id: 'org-1', display_name: 'security-scanner', status: 'active' });
    await m.emit('identity', 'agent.registered', SELF, { agent_id: SELF, owner_id: SELF, display_name: 'self-owned', status: 'active' });
    await m.emit('identity', 'agent.registered', SUSPENDED, { agent_id: SUSPENDED, owner_id: 'org-1', display_name: 'on hold', status: 'active' });
    await m.emit('identity', 'agent.updated', SUSPENDED, { agent_id: SUSPENDED, owner_id: 'org-1', display_name: 'on hold', status: 'suspended', verified: false });
    await eventually(async () => (await m.svc.db.agent.findUnique({ where: { id: SUSPENDED } }))?.status === 'suspended', 10_000);
    await eventually(async () => (await m.svc.db.agent.count()) === 3, 10_000);
  });
  afterAll(() => m.stop());

  it('lists the seeded registry with install counts', async () => {
    const r = await call(base, 'GET', '/api/v1/plugins');
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(6);
    expect(r.body.plugins.map((p: { id: string }) => p.id).sort()).toEqual(
      ['http-fetch-v1', 'marketplace-v1', 'memory-kv-v1', 'scheduler-v1', 'web-search-v2', 'workspace-files-v1'].sort(),
    );
    const one = await call(base, 'GET', '/api/v1/plugins/web-search-v2');
    expect(one.body).toEqual({
      id: 'web-search-v2',
      name: 'Web Search',
      version: '2.1.0',
      description: 'Real-time web search with snippet extraction',
      tools: [{ name: 'search_web', description: 'Search the web for a query' }],
      install_count: 0,
      created_at: expect.stringMatching(ISO),
    });
    expect((await call(base, 'GET', '/api/v1/plugins?limit=2&offset=1')).body).toMatchObject({ total: 6, offset: 1, limit: 2, plugins: [expect.any(Object), expect.any(Object)] });
    const missing = await call(base, 'GET', '/api/v1/plugins/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('Plugin not found');
  });

  it('installs the spec example onto an agent its caller owns: 201, the spec shape, install_count + 1, plugin.installed', async () => {
    const r = await call(base, 'POST', `/api/v1/agents/${AGENT}/plugins`, { as: org, body: { plugin_id: 'web-search-v2' } });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      id: expect.stringMatching(/^inst-[0-9a-f]{12}$/),
      agent_id: AGENT,
      plugin_id: 'web-search-v2',
      plugin_name: 'Web Search',
      plugin_version: '2.1.0',
      plugin_description: 'Real-time web search with snippet extraction',
      tools: [{ name: 'search_web', description: 'Search the web for a query' }],
      installed_by: 'org-1',
      installed_at: expect.stringMatching(ISO),
    });
    expect(await installCount('web-search-v2')).toBe(1);
    const e = await eventually(() => heard.find((h) => h.type === 'plugin.installed' && h.subject === AGENT));
    expect(e.data).toEqual({
      install_id: r.body.id,
      agent_id: AGENT,
      plugin_id: 'web-search-v2',
      plugin_name: 'Web Search',
      plugin_version: '2.1.0',
      tools: [{ name: 'search_web', description: 'Search the web for a query' }],
      installed_by: 'org-1',
    });
  });

  it('refuses a second install of the same plugin with 409, changing nothing', async () => {
    const before = await snapshot();
    const r = await call(base, 'POST', `/api/v1/agents/${AGENT}/plugins`, { as: org, body: { plugin_id: 'web-search-v2' } });
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/already installed/);
    expect(await snapshot()).toEqual(before);
  });

  it('lets an agent install onto itself with its own key', async () => {
    const r = await call(base, 'POST', `/api/v1/agents/${SELF}/plugins`, { as: agentPrincipal(SELF), body: { plugin_id: 'memory-kv-v1' } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ agent_id: SELF, plugin_id: 'memory-kv-v1', installed_by: SELF });
    expect(r.body.tools.map((t: { name: string }) => t.name)).toEqual(['remember', 'recall', 'forget']);
  });

  it('lists an agent’s plugins in the spec shape', async () => {
    await call(base, 'POST', `/api/v1/agents/${AGENT}/plugins`, { as: org, body: { plugin_id: 'http-fetch-v1' } });
    const r = await call(base, 'GET', `/api/v1/agents/${AGENT}/plugins`, { as: org });
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(2);
    expect(r.body.plugins[0]).toEqual({
      id: expect.stringMatching(/^inst-[0-9a-f]{12}$/),
      agent_id: AGENT,
      plugin_id: 'web-search-v2',
      plugin_name: 'Web Search',
      plugin_version: '2.1.0',
      tools: [{ name: 'search_web', description: 'Search the web for a query' }],
      installed_by: 'org-1',
      installed_at: expect.stringMatching(ISO),
    });
    expect(r.body.plugins[1].plugin_id).toBe('http-fetch-v1');
    // Each agent has its own list.
    expect((await call(base, 'GET', `/api/v1/agents/${SELF}/plugins`, { as: agentPrincipal(SELF) })).body.plugins.map((p: { plugin_id: string }) => p.plugin_id)).toEqual(['memory-kv-v1']);
  });

  it('refuses strangers (403), unknown agents and plugins (404), anonymous callers (401) and bad bodies (400), changing nothing', async () => {
    const before = await snapshot();
    for (const [method, path, body] of [
      ['POST', `/api/v1/agents/${AGENT}/plugins`, { plugin_id: 'scheduler-v1' }],
      ['GET', `/api/v1/agents/${AGENT}/plugins`, undefined],
      ['DELETE', `/api/v1/agents/${AGENT}/plugins/web-search-v2`, undefined],
    ] as const) {
      const r = await call(base, method, path, { as: stranger, body });
      expect(r.status).toBe(403);
      expect(r.body.detail).toBe('Not your agent');
      expect((await call(base, method, path, { body })).status).toBe(401);
    }
    // Another agent's key is a stranger too.
    expect((await call(base, 'GET', `/api/v1/agents/${AGENT}/plugins`, { as: agentPrincipal(SELF) })).status).toBe(403);

    const noAgent = await call(base, 'POST', '/api/v1/agents/00000000-0000-4000-8000-00000000dead/plugins', { as: org, body: { plugin_id: 'web-search-v2' } });
    expect(noAgent.status).toBe(404);
    expect(noAgent.body.detail).toBe('Agent not found');
    expect((await call(base, 'GET', '/api/v1/agents/00000000-0000-4000-8000-00000000dead/plugins', { as: org })).status).toBe(404);
    const noPlugin = await call(base, 'POST', `/api/v1/agents/${AGENT}/plugins`, { as: org, body: { plugin_id: 'does-not-exist' } });
    expect(noPlugin.status).toBe(404);
    expect(noPlugin.body.detail).toMatch(/not in the registry/);
    const bad = await call(base, 'POST', `/api/v1/agents/${AGENT}/plugins`, { as: org, body: {} });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/plugin_id/);
    expect(await snapshot()).toEqual(before);
  });

  it('installs only onto an ACTIVE agent, following agent.updated in event-time order', async () => {
    const before = await snapshot();
    const r = await call(base, 'POST', `/api/v1/agents/${SUSPENDED}/plugins`, { as: org, body: { plugin_id: 'web-search-v2' } });
    expect(r.status).toBe(409);
    expect(r.body.detail).toBe('Agent is suspended; only an active agent can install plugins');
    expect(await snapshot()).toEqual(before);

    const now = Date.now();
    await m.emit('identity', 'agent.updated', SUSPENDED, { agent_id: SUSPENDED, owner_id: 'org-1', display_name: 'on hold', status: 'active', verified: true }, { time: new Date(now + 1_000) });
    // A late, older event must not undo the newer one.
    await m.emit('identity', 'agent.updated', SUSPENDED, { agent_id: SUSPENDED, owner_id: 'org-1', display_name: 'on hold', status: 'suspended', verified: false }, { time: new Date(now - 60_000) });
    await eventually(async () => (await m.svc.db.agent.findUnique({ where: { id: SUSPENDED } }))?.status === 'active', 10_000);
    await eventually(async () => (await m.svc.db.processedEvent.count({ where: { consumer: 'marketplace.agent-updated' } })) === 3, 10_000);
    expect((await m.svc.db.agent.findUnique({ where: { id: SUSPENDED } }))?.status).toBe('active');
    expect((await call(base, 'POST', `/api/v1/agents/${SUSPENDED}/plugins`, { as: org, body: { plugin_id: 'web-search-v2' } })).status).toBe(201);
  });

  it('uninstalls with 204, decrements install_count and emits plugin.uninstalled; 404 when not installed', async () => {
    const count = await installCount('web-search-v2');
    const r = await call(base, 'DELETE', `/api/v1/agents/${AGENT}/plugins/web-search-v2`, { as: admin });
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    expect(await installCount('web-search-v2')).toBe(count - 1);
    const e = await eventually(() => heard.find((h) => h.type === 'plugin.uninstalled' && h.subject === AGENT));
    expect(e.data).toMatchObject({ agent_id: AGENT, plugin_id: 'web-search-v2', uninstalled_by: 'root' });

    const again = await call(base, 'DELETE', `/api/v1/agents/${AGENT}/plugins/web-search-v2`, { as: org });
    expect(again.status).toBe(404);
    expect(again.body.detail).toBe('Plugin is not installed on this agent');
    expect(await installCount('web-search-v2')).toBe(count - 1);
    expect((await call(base, 'GET', `/api/v1/agents/${AGENT}/plugins`, { as: org })).body.plugins.map((p: { plugin_id: string }) => p.plugin_id)).toEqual(['http-fetch-v1']);
    // Reinstalling after removal works.
    expect((await call(base, 'POST', `/api/v1/agents/${AGENT}/plugins`, { as: org, body: { plugin_id: 'web-search-v2' } })).status).toBe(201);
  });
});
