import { startUpstream, Upstream, eventually } from '@platform/testing';
import { startPlatform, client, bearer, ADMIN_KEY, TestPlatform } from '../support/platform';

jest.setTimeout(120_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;
const ids = (list: { id: string }[]) => list.map((s) => s.id);

/**
 * Spec 002 "Service Registry", "Discovery", "Templates", "Team Management" and the provider
 * portal's "My Services", "Test Service Endpoint" and "Onboarding Progress", sent to the
 * gateway as a client would. Trending, recommendations and provider totals are driven by
 * real calls through the payment proxy.
 */
describe('spec 002 marketplace through the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  let upstream: Upstream;
  let provider: string;
  let otherProvider: string;
  let buyer: string;

  const key = async (owner: string, role: 'buyer' | 'provider') => {
    const r = await api.post('/api/v1/keys', { owner_id: owner, role, rate_limit: 1000 }, role === 'buyer' ? undefined : bearer(ADMIN_KEY));
    expect(r.status).toBe(201);
    return bearer(`${r.body.key_id}:${r.body.secret}`);
  };
  const register = async (body: Record<string, unknown>, auth = provider) => {
    const r = await api.post('/api/v1/services', { endpoint: `${upstream.url}/v1`, price_per_call: '0.05', ...body }, auth);
    expect(r.status).toBe(201);
    return r.body.id as string;
  };
  const proxy = (serviceId: string, auth = buyer) =>
    fetch(`${platform.url}/api/v1/proxy/${serviceId}/analyze`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: '{"text":"hello"}' });

  beforeAll(async () => {
    platform = await startPlatform('s002mkt', { RATE_LIMIT_IP_PER_MIN: '100000', RATE_LIMIT_IP_BURST: '100000' });
    api = client(platform.url);
    upstream = await startUpstream((req, _body, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
    provider = await key('my-agent', 'provider');
    otherProvider = await key('other-provider', 'provider');
    buyer = await key('buyer-agent', 'buyer');
    expect((await api.post('/dev/balance/fund', { amount: '5.00' }, buyer)).status).toBe(200);
  });
  afterAll(async () => {
    await platform?.stop();
    await upstream?.close();
  });

  describe('service registry', () => {
    let sentiment: string;

    it('registers the spec example (201) and answers the documented object', async () => {
      const r = await api.post(
        '/api/v1/services',
        {
          name: 'Sentiment Analysis API',
          description: 'Analyze text sentiment with confidence scores',
          endpoint: 'https://my-api.example.com/v1',
          price_per_call: '0.05',
          category: 'ai',
          tags: ['nlp', 'sentiment'],
          payment_method: 'x402',
          free_tier_calls: 50,
        },
        provider,
      );
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        id: expect.stringMatching(UUID),
        provider_id: 'my-agent',
        name: 'Sentiment Analysis API',
        description: 'Analyze text sentiment with confidence scores',
        pricing: { price_per_call: '0.05', currency: 'USDC', payment_method: 'x402', free_tier_calls: 50 },
        status: 'active',
        category: 'ai',
        tags: ['nlp', 'sentiment'],
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
      });
      sentiment = r.body.id;
      expect((await api.get(`/api/v1/services/${sentiment}`)).body).toEqual(r.body);
      const list = await api.get('/api/v1/services?category=ai&limit=10');
      expect(list.status).toBe(200);
      expect(list.body).toMatchObject({ count: 1, offset: 0, limit: 10 });
      expect(ids(list.body.services)).toEqual([sentiment]);
    });

    it('refuses anonymous (401) and buyer (403) registrations, and answers 404 for an unknown service', async () => {
      const body = { name: 'x', endpoint: 'https://x.example.com', price_per_call: '0.01' };
      expect((await api.post('/api/v1/services', body)).status).toBe(401);
      const asBuyer = await api.post('/api/v1/services', body, buyer);
      expect(asBuyer.status).toBe(403);
      expect(asBuyer.body).toMatchObject({ detail: expect.any(String) });
      const missing = await api.get('/api/v1/services/00000000-0000-4000-8000-000000000000');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ detail: 'Service not found' });
    });

    it('lets only the owner PATCH and DELETE (403 "Not your service"); DELETE is a soft remove', async () => {
      const id = await register({ name: 'Short-lived', endpoint: 'https://short.example.com' });
      const denied = await api.patch(`/api/v1/services/${id}`, { price_per_call: '0.01' }, otherProvider);
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ detail: 'Not your service' });
      expect((await api.delete(`/api/v1/services/${id}`, otherProvider)).status).toBe(403);

      const patched = await api.patch(`/api/v1/services/${id}`, { price_per_call: '0.10', tags: ['x'] }, provider);
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ id, pricing: { price_per_call: '0.10' }, tags: ['x'] });
      const removed = await api.delete(`/api/v1/services/${id}`, provider);
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual({ status: 'removed', id });
      expect((await api.get(`/api/v1/services/${id}`)).body.status).toBe('removed');
    });

    it('discovers the spec example query and ranks a name match above a description match', async () => {
      const moodMeter = await register({ name: 'Mood Meter', description: 'Scores sentiment of reviews', category: 'ai', tags: ['reviews'] });
      const example = await api.get('/api/v1/discover?q=nlp&category=ai&has_free_tier=true&sort_by=price&limit=10');
      expect(example.status).toBe(200);
      expect(example.body).toEqual({ services: [expect.objectContaining({ id: sentiment, name: 'Sentiment Analysis API' })], total: 1, offset: 0, limit: 10 });
      const ranked = await api.get('/api/v1/discover?q=sentiment');
      expect(ids(ranked.body.services)).toEqual([sentiment, moodMeter]);
      expect(ranked.body.total).toBe(2);
      const bad = await api.get('/api/v1/discover?sort_by=popularity');
      expect(bad.status).toBe(400);
      expect(bad.body.detail).toMatch(/sort_by/);
    });
  });

  describe('proxied calls drive trending, recommendations and the provider view', () => {
    let hot: string;
    let warm: string;
    let unused: string;

    it('a service registered a moment ago is callable through the proxy within a second', async () => {
      hot = await register({ name: 'Hot Summarizer', description: 'Summaries', category: 'text', tags: ['summary'] });
      const first = await eventually(async () => {
        const r = await proxy(hot);
        return r.status === 404 ? undefined : r;
      }, 1_000, 20);
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ ok: true, path: '/v1/analyze' });
      expect(first.headers.get('x-acf-amount')).toBe('0.05');
    });

    it('trending and recommendations are empty for services and agents with no calls yet', async () => {
      warm = await register({ name: 'Warm Weather', description: 'Forecasts', category: 'data', tags: ['weather'] });
      unused = await register({ name: 'Cold Storage Summaries', description: 'Archive digests', category: 'text' });
      const trending = await api.get('/api/v1/discover/trending');
      expect(trending.status).toBe(200);
      expect(ids(trending.body.trending.map((t: { service: { id: string } }) => t.service))).not.toContain(warm);
      expect((await api.get('/api/v1/discover/recommendations/fresh-agent')).body).toEqual({ recommendations: [], count: 0 });
    });

    it('after real calls, trending ranks by volume with average latency and recommendations follow the buyer’s categories', async () => {
      for (let i = 0; i < 2; i++) expect((await proxy(hot)).status).toBe(200); // 3 calls in all
      await eventually(async () => (await proxy(warm)).status === 200, 1_000, 20);

      const trending = await eventually(async () => {
        const r = await api.get('/api/v1/discover/trending');
        const counts = Object.fromEntries(r.body.trending.map((t: { service: { id: string }; call_count: number }) => [t.service.id, t.call_count]));
        return counts[hot] === 3 && counts[warm] === 1 ? r : undefined;
      }, 10_000);
      expect(trending.body.count).toBe(2);
      expect(trending.body.trending[0]).toEqual({
        service: expect.objectContaining({ id: hot, name: 'Hot Summarizer', pricing: expect.objectContaining({ price_per_call: '0.05' }) }),
        call_count: 3,
        avg_latency_ms: expect.any(Number),
      });
      expect(trending.body.trending[1]).toMatchObject({ service: { id: warm }, call_count: 1 });

      // buyer-agent used "text" (3 calls) more than "data" (1): the unused text service comes first;
      // the services it already calls are never recommended.
      const recs = await api.get('/api/v1/discover/recommendations/buyer-agent');
      expect(recs.status).toBe(200);
      expect(recs.body.recommendations[0]).toMatchObject({ id: unused, name: 'Cold Storage Summaries', category: 'text' });
      expect(ids(recs.body.recommendations)).not.toContain(hot);
      expect(ids(recs.body.recommendations)).not.toContain(warm);
      expect(recs.body.count).toBe(recs.body.recommendations.length);
    });

    it('GET /api/v1/provider/services shows the provider’s own services with calls, revenue and latency', async () => {
      const r = await api.get('/api/v1/provider/services', provider);
      expect(r.status).toBe(200);
      const row = r.body.services.find((s: { id: string }) => s.id === hot);
      expect(row).toEqual({
        id: hot,
        name: 'Hot Summarizer',
        description: 'Summaries',
        endpoint: `${upstream.url}/v1`,
        price_per_call: '0.05',
        status: 'active',
        category: 'text',
        total_calls: 3,
        total_revenue: 0.15,
        avg_latency_ms: expect.any(Number),
        created_at: expect.stringMatching(ISO),
      });
      expect((await api.get('/api/v1/provider/services', otherProvider)).body.services).toEqual([]);
      expect((await api.get('/api/v1/provider/services', buyer)).status).toBe(403);
      expect((await api.get('/api/v1/provider/services')).status).toBe(401);
    });

    it('POST /api/v1/provider/services/{id}/test reports reachability for the owner only', async () => {
      const r = await api.post(`/api/v1/provider/services/${hot}/test`, undefined, provider);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ service_id: hot, endpoint: `${upstream.url}/v1`, reachable: true, latency_ms: expect.any(Number), status_code: 200, error: '' });
      const denied = await api.post(`/api/v1/provider/services/${hot}/test`, undefined, otherProvider);
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ detail: 'Not your service' });
      const missing = await api.post('/api/v1/provider/services/00000000-0000-4000-8000-000000000000/test', undefined, provider);
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ detail: 'Service not found' });
    });

    it('GET /api/v1/provider/onboarding tracks the five steps', async () => {
      const r = await api.get('/api/v1/provider/onboarding', provider);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        provider_id: 'my-agent',
        steps: {
          create_api_key: { completed: true, label: 'Create API key' },
          register_service: { completed: true, label: 'Register your first service' },
          activate_service: { completed: true, label: 'Activate a service' },
          first_traffic: { completed: true, label: 'Receive first API call' },
          first_settlement: { completed: false, label: 'Complete first settlement' },
        },
        completed_steps: 4,
        total_steps: 5,
        completion_pct: 80,
      });
      const fresh = await api.get('/api/v1/provider/onboarding', otherProvider);
      // other-provider has a key and nothing else yet.
      expect(fresh.body).toMatchObject({ provider_id: 'other-provider', completed_steps: 1, completion_pct: 20 });
      expect(fresh.body.steps.register_service.completed).toBe(false);
      expect((await api.get('/api/v1/provider/onboarding', buyer)).status).toBe(403);
    });
  });

  describe('categories and templates', () => {
    it('GET /api/v1/discover/categories counts active services', async () => {
      const r = await api.get('/api/v1/discover/categories');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        categories: [
          { category: 'ai', count: 2 },
          { category: 'text', count: 2 },
          { category: 'data', count: 1 },
        ],
      });
    });

    it('GET /api/v1/templates/teams and /services answer the documented lists', async () => {
      const teams = await api.get('/api/v1/templates/teams');
      expect(teams.status).toBe(200);
      expect(teams.body).toEqual({
        templates: [
          { name: 'solo', agents: 1, quality_gates: [{ type: 'quality_score', threshold: 7.0 }], description: 'Single agent for individual developers' },
          {
            name: 'small_team',
            agents: 4,
            quality_gates: [
              { type: 'quality_score', threshold: 8.0 },
              { type: 'quality_score', threshold: 8.5 },
            ],
            description: 'Collaborative team with keyword routing',
          },
          {
            name: 'enterprise',
            agents: 6,
            quality_gates: [
              { type: 'quality_score', threshold: 8.5 },
              { type: 'quality_score', threshold: 9.0 },
              { type: 'quality_score', threshold: 9.0 },
            ],
            description: 'Production-grade with skill-based routing',
          },
        ],
      });
      const services = await api.get('/api/v1/templates/services');
      expect(services.body).toEqual({
        templates: [
          { name: 'ai_api', category: 'ai', price_per_call: '0.05', free_tier_calls: 100 },
          { name: 'data_pipeline', category: 'data', price_per_call: '0.10', free_tier_calls: 50 },
          { name: 'content_api', category: 'content', price_per_call: '0.02', free_tier_calls: 200 },
        ],
      });
    });
  });

  describe('team management', () => {
    let teamId: string;
    let memberAgent: string;

    it('creates a team (201), lists it for its owner only, and gets it', async () => {
      const r = await api.post('/api/v1/teams', { name: 'My AI Team', description: 'NLP processing team', config: {} }, provider);
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ id: expect.stringMatching(UUID), name: 'My AI Team', owner_id: 'my-agent' });
      teamId = r.body.id;
      expect((await api.post('/api/v1/teams', { name: 'anon' })).status).toBe(401);

      const mine = await api.get('/api/v1/teams', provider);
      expect(ids(mine.body.teams)).toEqual([teamId]);
      expect((await api.get('/api/v1/teams')).body.teams).toEqual([]);
      expect((await api.get('/api/v1/teams', otherProvider)).body.teams).toEqual([]);
    });

    it('adds a member, a routing rule and a quality gate as documented, refusing anyone but the owner', async () => {
      memberAgent = 'agent-nlp-1';
      const member = await api.post(`/api/v1/teams/${teamId}/members`, { agent_id: memberAgent, role: 'worker', skills: ['nlp'] }, provider);
      expect(member.status).toBe(201);
      expect(member.body).toEqual({ id: expect.stringMatching(UUID), team_id: teamId, agent_id: memberAgent });
      const rule = await api.post(`/api/v1/teams/${teamId}/rules`, { name: 'NLP tasks', keywords: ['nlp', 'text'], target_agent_id: memberAgent, priority: 10 }, provider);
      expect(rule.status).toBe(201);
      expect(rule.body).toEqual({ id: expect.stringMatching(UUID), name: 'NLP tasks' });
      const gate = await api.post(`/api/v1/teams/${teamId}/gates`, { gate_type: 'quality_score', threshold: 8.5 }, provider);
      expect(gate.status).toBe(201);
      expect(gate.body).toEqual({ id: expect.stringMatching(UUID), gate_type: 'quality_score' });

      for (const [path, body] of [
        [`/api/v1/teams/${teamId}/members`, { agent_id: 'spy' }],
        [`/api/v1/teams/${teamId}/rules`, { name: 'x', keywords: ['x'], target_agent_id: 'spy' }],
        [`/api/v1/teams/${teamId}/gates`, { gate_type: 'custom', threshold: 1 }],
      ] as const) {
        const denied = await api.post(path, body, otherProvider);
        expect(denied.status).toBe(403);
        expect(denied.body).toMatchObject({ detail: 'Not your team' });
      }
      expect((await api.patch(`/api/v1/teams/${teamId}`, { name: 'Mine now' }, otherProvider)).status).toBe(403);
      expect((await api.delete(`/api/v1/teams/${teamId}/members/${memberAgent}`, otherProvider)).status).toBe(403);
      expect((await api.delete(`/api/v1/teams/${teamId}`, otherProvider)).status).toBe(403);

      const team = await api.get(`/api/v1/teams/${teamId}`);
      expect(team.status).toBe(200);
      expect(team.body).toEqual({
        id: teamId,
        name: 'My AI Team',
        owner_id: 'my-agent',
        description: 'NLP processing team',
        config: {},
        status: 'active',
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
        members: [{ id: member.body.id, agent_id: memberAgent, role: 'worker', skills: ['nlp'] }],
        routing_rules: [{ id: rule.body.id, name: 'NLP tasks', keywords: ['nlp', 'text'], target_agent_id: memberAgent, priority: 10 }],
        quality_gates: [{ id: gate.body.id, gate_type: 'quality_score', threshold: 8.5, gate_order: 0 }],
      });
      expect((await api.get(`/api/v1/teams/${teamId}/members`)).body).toEqual({
        members: [{ id: member.body.id, team_id: teamId, agent_id: memberAgent, role: 'worker', skills: ['nlp'], joined_at: expect.stringMatching(ISO) }],
        count: 1,
      });
      expect((await api.get(`/api/v1/teams/${teamId}/rules`)).body).toEqual({
        rules: [{ id: rule.body.id, name: 'NLP tasks', keywords: ['nlp', 'text'], target_agent_id: memberAgent, priority: 10, enabled: true }],
        count: 1,
      });
      expect((await api.get(`/api/v1/teams/${teamId}/gates`)).body).toEqual({
        gates: [{ id: gate.body.id, gate_type: 'quality_score', threshold: 8.5, gate_order: 0, config: {}, enabled: true }],
        count: 1,
      });
    });

    it('routes a task by the keyword rules', async () => {
      const r = await api.post(`/api/v1/teams/${teamId}/route`, { task: 'Run NLP over this text' });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ team_id: teamId, agent_id: memberAgent, matched_by: 'rule', rule: { name: 'NLP tasks', priority: 10 } });
    });

    it('updates, removes parts, and archives on delete; 404 for unknown teams', async () => {
      const patched = await api.patch(`/api/v1/teams/${teamId}`, { description: 'Updated' }, provider);
      expect(patched.status).toBe(200);
      expect(patched.body.description).toBe('Updated');
      const rules = (await api.get(`/api/v1/teams/${teamId}/rules`)).body.rules;
      expect((await api.delete(`/api/v1/teams/${teamId}/rules/${rules[0].id}`, provider)).status).toBe(200);
      const gates = (await api.get(`/api/v1/teams/${teamId}/gates`)).body.gates;
      expect((await api.delete(`/api/v1/teams/${teamId}/gates/${gates[0].id}`, provider)).status).toBe(200);
      const removed = await api.delete(`/api/v1/teams/${teamId}/members/${memberAgent}`, provider);
      expect(removed.body).toEqual({ status: 'removed' });

      const archived = await api.delete(`/api/v1/teams/${teamId}`, provider);
      expect(archived.status).toBe(200);
      expect(archived.body).toEqual({ status: 'archived', id: teamId });
      expect((await api.get(`/api/v1/teams/${teamId}`)).body.status).toBe('archived');
      const missing = await api.get('/api/v1/teams/00000000-0000-4000-8000-000000000000');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ detail: 'Team not found' });
    });
  });
});
