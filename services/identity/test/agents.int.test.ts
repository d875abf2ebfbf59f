import { Identity, startIdentity, call, snapshot, stagedEvents, principalFor } from './support';

describe('spec 003 POST /api/v1/public/agents/register', () => {
  let id: Identity;
  const body = {
    agent_name: 'security-scanner',
    capabilities: ['vulnerability_scan', 'code_review'],
    callback_url: 'https://my-system.example.com/webhooks/agent',
  };

  beforeAll(async () => {
    id = await startIdentity('identity_agents');
  });
  afterAll(() => id.stop());

  it('registers the spec example and answers exactly {agent_id, api_key}', async () => {
    const res = await call(id.url, 'POST', '/api/v1/public/agents/register', body);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['agent_id', 'api_key']);
    expect(res.body.agent_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(res.body.api_key).toMatch(/^pa_[A-Za-z0-9]{40}$/);

    const agent = await id.svc.db.agent.findUniqueOrThrow({ where: { id: res.body.agent_id } });
    expect(agent).toMatchObject({
      ownerId: res.body.agent_id,
      displayName: 'security-scanner',
      capabilities: ['vulnerability_scan', 'code_review'],
      callbackUrl: 'https://my-system.example.com/webhooks/agent',
      status: 'active',
      verified: false,
      identityType: 'api_key_only',
    });
    const key = await id.svc.db.apiKey.findFirstOrThrow({ where: { agentId: agent.id } });
    expect(key).toMatchObject({ family: 'pa', role: 'agent', ownerId: agent.id });
    expect(key.secretHash).not.toContain(res.body.api_key);

    const [registered] = (await stagedEvents(id.svc.db, 'agent.registered')).filter((e) => e.data.agent_id === agent.id);
    expect(registered.data).toEqual({ agent_id: agent.id, owner_id: agent.id, display_name: 'security-scanner', status: 'active' });
    const created = (await stagedEvents(id.svc.db, 'key.created')).filter((e) => e.data.key_id === key.id);
    expect(created[0].data).toMatchObject({ family: 'pa', owner_id: agent.id });

    expect(await principalFor(id.url, res.body.api_key)).toEqual({
      owner_id: agent.id, kind: 'pa_key', key_id: key.id, roles: ['agent'], org_id: null, rate_limit: 60, agent_id: agent.id,
    });
  });

  it('stops a suspended agent\'s key from verifying', async () => {
    const res = await call(id.url, 'POST', '/api/v1/public/agents/register', { ...body, agent_name: 'to-suspend' });
    await id.svc.db.agent.update({ where: { id: res.body.agent_id }, data: { status: 'suspended' } });
    await expect(principalFor(id.url, res.body.api_key)).rejects.toThrow(/401/);
  });

  it.each([
    ['bad JSON', '{"agent_name": "x", '],
    ['an http callback', { ...body, callback_url: 'http://my-system.example.com/hook' }],
    ['a callback that is not a URL', { ...body, callback_url: 'not a url' }],
    ['a callback carrying credentials', { ...body, callback_url: 'https://u:p@example.com/hook' }],
    ['an empty agent_name', { ...body, agent_name: '' }],
    ['an agent_name of 129 characters', { ...body, agent_name: 'a'.repeat(129) }],
    ['capabilities that are not an array', { ...body, capabilities: 'memory' }],
    ['a capability that is not a slug', { ...body, capabilities: ['Has Spaces'] }],
    ['too many capabilities', { ...body, capabilities: Array.from({ length: 51 }, (_, i) => `cap-${i}`) }],
    ['missing capabilities', { agent_name: 'x', callback_url: body.callback_url }],
    ['missing callback_url', { agent_name: 'x', capabilities: [] }],
  ])('answers 400 {"detail"} for %s and changes nothing', async (_what, b) => {
    const before = await snapshot(id.svc.db);
    const res = await call(id.url, 'POST', '/api/v1/public/agents/register', b);
    expect(res.status).toBe(400);
    expect(typeof res.body.detail).toBe('string');
    expect(await snapshot(id.svc.db)).toEqual(before);
  });

  it('accepts 128 characters and drops duplicate capabilities', async () => {
    const res = await call(id.url, 'POST', '/api/v1/public/agents/register', { ...body, agent_name: 'a'.repeat(128), capabilities: ['memory', 'memory', 'search'] });
    expect(res.status).toBe(200);
    const agent = await id.svc.db.agent.findUniqueOrThrow({ where: { id: res.body.agent_id } });
    expect(agent.capabilities).toEqual(['memory', 'search']);
  });
});
