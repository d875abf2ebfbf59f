import { randomUUID } from 'node:crypto';
import { startPlatform, client, bearer, ADMIN_KEY, TestPlatform } from '../support/platform';

jest.setTimeout(60_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;

/** Spec 002 "Agent Identity": every documented request, sent to the gateway as a client would. */
describe('spec 002 agent identities through the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  let mine: string;
  let theirs: string;

  const buyerKey = async (owner: string) => {
    const res = await api.post('/api/v1/keys', { owner_id: owner, role: 'buyer' });
    expect(res.status).toBe(201);
    return bearer(`${res.body.key_id}:${res.body.secret}`);
  };

  beforeAll(async () => {
    platform = await startPlatform('s002agents');
    api = client(platform.url);
    mine = await buyerKey('my-agent');
    theirs = await buyerKey('someone-else');
  });
  afterAll(() => platform?.stop());

  let agentId: string;

  it('POST /api/v1/agents registers the documented example (201)', async () => {
    const res = await api.post(
      '/api/v1/agents',
      { display_name: 'My AI Agent', capabilities: ['nlp', 'inference'], identity_type: 'api_key_only', wallet_address: '0x1234567890abcdef1234567890abcdef12345678' },
      mine,
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
      owner_id: 'my-agent',
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
    });
    agentId = res.body.agent_id;

    const anonymous = await api.post('/api/v1/agents', { display_name: 'x' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ detail: expect.any(String) });
    const bad = await api.post('/api/v1/agents', { display_name: 'x', identity_type: 'password' }, mine);
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/identity_type/);
  });

  it('GET /api/v1/agents lists with no auth: {agents, count}, filtered by status, paginated', async () => {
    await api.post('/api/v1/agents', { display_name: 'Second Agent', capabilities: ['vision'] }, mine);
    const res = await api.get('/api/v1/agents');
    expect(res.status).toBe(200);
    expect(res.body.count).toBe(res.body.agents.length);
    expect(res.body.agents.map((a: { display_name: string }) => a.display_name)).toEqual(expect.arrayContaining(['My AI Agent', 'Second Agent']));
    expect(res.body.agents[0]).not.toHaveProperty('owner_id');
    expect((await api.get('/api/v1/agents?limit=1')).body.count).toBe(1);
    expect((await api.get('/api/v1/agents?status=deactivated')).body).toEqual({ agents: [], count: 0 });
    expect((await api.get('/api/v1/agents?limit=101')).status).toBe(400);
  });

  it('GET /api/v1/agents/search finds by name, capability or id with no auth', async () => {
    const byName = await api.get('/api/v1/agents/search?q=my%20ai');
    expect(byName.status).toBe(200);
    expect(byName.body).toEqual({ agents: [expect.objectContaining({ agent_id: agentId })], count: 1 });
    expect((await api.get('/api/v1/agents/search?q=inference')).body.agents.map((a: { agent_id: string }) => a.agent_id)).toEqual([agentId]);
    expect((await api.get(`/api/v1/agents/search?q=${agentId}`)).body.count).toBe(1);
    expect((await api.get('/api/v1/agents/search?q=agent&limit=1')).body.count).toBe(1);
  });

  it('GET /api/v1/agents/{agent_id} answers the object without owner_id, or 404 "Agent not found"', async () => {
    const res = await api.get(`/api/v1/agents/${agentId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ agent_id: agentId, display_name: 'My AI Agent', verified: false });
    expect(res.body).not.toHaveProperty('owner_id');
    const missing = await api.get(`/api/v1/agents/${randomUUID()}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: 'Agent not found', request_id: expect.any(String) });
  });

  it('PATCH is owner only: 403 for another owner, then the owner\'s update', async () => {
    const refused = await api.patch(`/api/v1/agents/${agentId}`, { display_name: 'Hijacked' }, theirs);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ detail: 'Not your agent' });
    expect((await api.get(`/api/v1/agents/${agentId}`)).body.display_name).toBe('My AI Agent');

    const res = await api.patch(`/api/v1/agents/${agentId}`, { display_name: 'My AI Agent v2', capabilities: ['nlp'], metadata: { team: 'core' } }, mine);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ agent_id: agentId, display_name: 'My AI Agent v2', capabilities: ['nlp'], metadata: { team: 'core' }, owner_id: 'my-agent' });
    expect((await api.patch(`/api/v1/agents/${agentId}`, { status: 'retired' }, mine)).status).toBe(400);
  });

  it('POST /api/v1/agents/{agent_id}/verify needs an admin key', async () => {
    const refused = await api.post(`/api/v1/agents/${agentId}/verify`, undefined, mine);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ detail: expect.any(String) });
    expect((await api.post(`/api/v1/agents/${agentId}/verify`)).status).toBe(401);
    const res = await api.post(`/api/v1/agents/${agentId}/verify`, undefined, bearer(ADMIN_KEY));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ agent_id: agentId, verified: true });
  });

  it('DELETE soft-deactivates for the owner only', async () => {
    const refused = await api.delete(`/api/v1/agents/${agentId}`, theirs);
    expect(refused.status).toBe(403);
    expect((await api.get(`/api/v1/agents/${agentId}`)).body.status).toBe('active');

    const res = await api.delete(`/api/v1/agents/${agentId}`, mine);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'deactivated', agent_id: agentId });
    expect((await api.get(`/api/v1/agents/${agentId}`)).body.status).toBe('deactivated');
    expect((await api.get('/api/v1/agents')).body.agents.map((a: { agent_id: string }) => a.agent_id)).not.toContain(agentId);
    expect((await api.delete(`/api/v1/agents/${randomUUID()}`, mine)).status).toBe(404);
  });
});
