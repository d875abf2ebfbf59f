import { eventually } from '@platform/testing';
import type { AnyEnvelope } from '@platform/events';
import { Identity, startIdentity, call, snapshot, stagedEvents, principalFor } from './support';

describe('spec 000 POST /agent-onboard', () => {
  let id: Identity;
  const published: AnyEnvelope[] = [];

  beforeAll(async () => {
    id = await startIdentity('identity_onboard', { PUBLIC_BASE_URL: 'https://api.example.test/' });
    await id.bus.subscribe({ group: 'test.onboard', types: ['agent.onboarded', 'key.created'], handler: async (e) => void published.push(e) });
  });
  afterAll(() => id.stop());

  it('provisions org, project, production environment and a bks_live_ key in the spec shape', async () => {
    const res = await call(id.url, 'POST', '/agent-onboard', { agent_identity: 'my-agent/1.0.0', org_name: 'My Agent Org', project_name: 'default' });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body)).toEqual(['ok', 'data', '_links']);
    expect(res.body.ok).toBe(true);
    const d = res.body.data;
    expect(Object.keys(d).sort()).toEqual(['agent_identity', 'api_key', 'env_id', 'env_name', 'free_credits', 'org_id', 'org_name', 'project_id', 'project_slug'].sort());
    expect(d.api_key).toMatch(/^bks_live_[A-Za-z0-9]{40}$/);
    expect(d).toMatchObject({ org_name: 'My Agent Org', project_slug: 'default', env_name: 'production', free_credits: 100, agent_identity: 'my-agent/1.0.0' });
    for (const k of ['org_id', 'project_id', 'env_id']) expect(d[k]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body._links).toEqual({
      validate: 'https://api.example.test/validate',
      runs: 'https://api.example.test/runs',
      credits: 'https://api.example.test/agent-credits',
    });

    const env = await id.svc.db.environment.findUniqueOrThrow({ where: { id: d.env_id }, include: { project: { include: { org: true } } } });
    expect(env.project.id).toBe(d.project_id);
    expect(env.project.org).toMatchObject({ id: d.org_id, name: 'My Agent Org', agentIdentity: 'my-agent/1.0.0' });
    const key = await id.svc.db.apiKey.findFirstOrThrow({ where: { envId: d.env_id } });
    expect(key).toMatchObject({ family: 'bks', ownerId: d.org_id, orgId: d.org_id, role: 'buyer', rateLimit: 60 });
    expect(key.secretHash).not.toContain(d.api_key);

    const [onboarded] = (await stagedEvents(id.svc.db, 'agent.onboarded')).filter((e) => e.data.org_id === d.org_id);
    expect(onboarded.data).toEqual({ owner_id: d.org_id, org_id: d.org_id, project_id: d.project_id, env_id: d.env_id, key_id: key.id, agent_identity: 'my-agent/1.0.0', free_credits: 100 });
    await eventually(() => published.some((e) => e.type === 'agent.onboarded' && e.data.org_id === d.org_id));

    const principal = await principalFor(id.url, d.api_key);
    expect(principal).toEqual({ owner_id: d.org_id, kind: 'bks_key', key_id: key.id, roles: ['buyer'], org_id: d.org_id, rate_limit: 60, agent_id: null });
  });

  it('slugs the project name and defaults it to "default"', async () => {
    const named = await call(id.url, 'POST', '/agent-onboard', { agent_identity: 'a/1', org_name: 'Org', project_name: '  Ünïcode Research Bot!! ' });
    expect(named.body.data.project_slug).toBe('unicode-research-bot');
    const dflt = await call(id.url, 'POST', '/agent-onboard', { agent_identity: 'a/1', org_name: 'Org' });
    expect(dflt.status).toBe(201);
    expect(dflt.body.data.project_slug).toBe('default');
  });

  it.each([
    ['bad JSON', '{"agent_identity": '],
    ['missing org_name', { agent_identity: 'a/1' }],
    ['missing agent_identity', { org_name: 'Org' }],
    ['org_name of the wrong type', { agent_identity: 'a/1', org_name: ['Org'] }],
    ['an oversize org_name', { agent_identity: 'a/1', org_name: 'o'.repeat(129) }],
    ['an oversize agent_identity', { agent_identity: 'a'.repeat(257), org_name: 'Org' }],
    ['a project name without letters or digits', { agent_identity: 'a/1', org_name: 'Org', project_name: '!!!' }],
    ['a blank org_name', { agent_identity: 'a/1', org_name: '   ' }],
  ])('answers 400 {"ok": false, …} for %s and changes nothing', async (_what, body) => {
    const before = await snapshot(id.svc.db);
    const res = await call(id.url, 'POST', '/agent-onboard', body);
    expect(res.status).toBe(400);
    expect(res.body.ok).toBe(false);
    expect(res.body.error.code).toBe('bad_request');
    expect(typeof res.body.error.message).toBe('string');
    expect(await snapshot(id.svc.db)).toEqual(before);
  });

  it('answers an oversize body in the same family', async () => {
    const res = await call(id.url, 'POST', '/agent-onboard', { agent_identity: 'a/1', org_name: 'Org', pad: 'x'.repeat(20_000) });
    expect(res.status).toBe(413);
    expect(res.body.ok).toBe(false);
  });
});
