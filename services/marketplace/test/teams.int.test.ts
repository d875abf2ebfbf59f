import { startMarketplace, Marketplace, call, principal } from './support/harness';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Each suite starts its own service on a fresh database; under a loaded machine that takes seconds.
jest.setTimeout(30_000);

/** Spec 002 "Team Management": every route, the owner-only refusals and the 404s. */
describe('teams', () => {
  let m: Marketplace;
  let base: string;
  const owner = principal('team-owner', 'buyer');
  const stranger = principal('team-stranger', 'provider');
  const admin = principal('root', 'admin');

  const snapshot = async () => ({
    teams: await m.svc.db.team.findMany({ orderBy: { id: 'asc' } }),
    members: await m.svc.db.teamMember.count(),
    rules: await m.svc.db.teamRoutingRule.count(),
    gates: await m.svc.db.teamQualityGate.count(),
    events: await m.svc.db.outboxEvent.count(),
  });
  const newTeam = async (name = 'My AI Team') => (await call(base, 'POST', '/api/v1/teams', { as: owner, body: { name, description: 'NLP processing team' } })).body.id as string;

  beforeAll(async () => {
    m = await startMarketplace();
    base = m.svc.url;
  });
  afterAll(() => m.stop());

  describe('create, read, list', () => {
    it('creates a team with the spec reply and stages team.created', async () => {
      const r = await call(base, 'POST', '/api/v1/teams', { as: owner, body: { name: 'My AI Team', description: 'NLP processing team', config: { mode: 'fast' } } });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ id: expect.stringMatching(UUID), name: 'My AI Team', owner_id: 'team-owner' });
      const events = await m.svc.db.outboxEvent.findMany({ where: { subject: r.body.id } });
      expect(events.map((e) => [e.type, (e.envelope as { data: unknown }).data])).toEqual([['team.created', { team_id: r.body.id, owner_id: 'team-owner', name: 'My AI Team' }]]);

      const got = await call(base, 'GET', `/api/v1/teams/${r.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual({
        id: r.body.id,
        name: 'My AI Team',
        owner_id: 'team-owner',
        description: 'NLP processing team',
        config: { mode: 'fast' },
        status: 'active',
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
        members: [],
        routing_rules: [],
        quality_gates: [],
      });
    });

    it('fills the documented defaults', async () => {
      const r = await call(base, 'POST', '/api/v1/teams', { as: owner, body: { name: 'Bare' } });
      const got = await call(base, 'GET', `/api/v1/teams/${r.body.id}`);
      expect(got.body).toMatchObject({ description: '', config: {}, status: 'active' });
    });

    it('lists the caller’s own active teams, and nothing for an anonymous caller', async () => {
      const mine = await call(base, 'GET', '/api/v1/teams', { as: owner });
      expect(mine.status).toBe(200);
      expect(mine.body.count).toBe(2);
      expect(mine.body.teams.map((t: { name: string }) => t.name)).toEqual(['Bare', 'My AI Team']);
      expect(mine.body.teams[0]).toEqual({
        id: expect.stringMatching(UUID),
        name: 'Bare',
        owner_id: 'team-owner',
        description: '',
        config: {},
        status: 'active',
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
      });
      expect((await call(base, 'GET', '/api/v1/teams?limit=1', { as: owner })).body.teams.map((t: { name: string }) => t.name)).toEqual(['Bare']);
      expect((await call(base, 'GET', '/api/v1/teams?limit=1&offset=1', { as: owner })).body.teams.map((t: { name: string }) => t.name)).toEqual(['My AI Team']);
      expect((await call(base, 'GET', '/api/v1/teams')).body).toEqual({ teams: [], count: 0, offset: 0, limit: 50 });
      expect((await call(base, 'GET', '/api/v1/teams', { as: stranger })).body.count).toBe(0);
      expect((await call(base, 'GET', '/api/v1/teams?limit=101', { as: owner })).status).toBe(400);
    });

    it.each([
      ['no name', { description: 'x' }, /name/],
      ['a blank name', { name: '  ' }, /name: must not be empty/],
      ['a name over 200 characters', { name: 'n'.repeat(201) }, /name: must be at most 200/],
      ['a description over 2000 characters', { name: 'ok', description: 'd'.repeat(2001) }, /description: must be at most 2000/],
      ['a config that is a list', { name: 'ok', config: [1, 2] }, /config/],
      ['a config that is text', { name: 'ok', config: 'x' }, /config/],
      ['a config too large', { name: 'ok', config: { big: 'x'.repeat(17_000) } }, /config: must be at most 16384/],
    ])('refuses %s with 400, creating nothing', async (_label, body, message) => {
      const before = await snapshot();
      const r = await call(base, 'POST', '/api/v1/teams', { as: owner, body });
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(message);
      expect(await snapshot()).toEqual(before);
    });

    it('asks for an API key to create (401)', async () => {
      const r = await call(base, 'POST', '/api/v1/teams', { body: { name: 'anon' } });
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ detail: 'Missing or invalid API key' });
    });

    it('answers 404 for a team that does not exist, and for an id that is not a UUID', async () => {
      for (const path of ['/api/v1/teams/00000000-0000-4000-8000-000000000000', '/api/v1/teams/nope', '/api/v1/teams/nope/members', '/api/v1/teams/00000000-0000-4000-8000-000000000000/rules', '/api/v1/teams/00000000-0000-4000-8000-000000000000/gates']) {
        const r = await call(base, 'GET', path);
        expect(r.status).toBe(404);
        expect(r.body.detail).toBe('Team not found');
      }
    });
  });

  describe('update and archive', () => {
    it('lets the owner update, and refuses a stranger with 403 "Not your team", changing nothing', async () => {
      const id = await newTeam('Patchable');
      const before = await snapshot();
      const denied = await call(base, 'PATCH', `/api/v1/teams/${id}`, { as: stranger, body: { name: 'Hijacked' } });
      expect(denied.status).toBe(403);
      expect(denied.body.detail).toBe('Not your team');
      expect(await snapshot()).toEqual(before);

      const r = await call(base, 'PATCH', `/api/v1/teams/${id}`, { as: owner, body: { name: 'Patched', config: { retries: 2 } } });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ id, name: 'Patched', description: 'NLP processing team', config: { retries: 2 }, members: [], routing_rules: [], quality_gates: [] });
      const byAdmin = await call(base, 'PATCH', `/api/v1/teams/${id}`, { as: admin, body: { description: 'moderated' } });
      expect(byAdmin.status).toBe(200);
      expect(byAdmin.body.owner_id).toBe('team-owner');
    });

    it('refuses an empty or invalid PATCH (400), an anonymous one (401) and an unknown team (404)', async () => {
      const id = await newTeam('Strict');
      expect((await call(base, 'PATCH', `/api/v1/teams/${id}`, { as: owner, body: {} })).body.detail).toMatch(/at least one of name, description, config/);
      expect((await call(base, 'PATCH', `/api/v1/teams/${id}`, { as: owner, body: { name: '' } })).status).toBe(400);
      expect((await call(base, 'PATCH', `/api/v1/teams/${id}`, { body: { name: 'x' } })).status).toBe(401);
      const missing = await call(base, 'PATCH', '/api/v1/teams/00000000-0000-4000-8000-000000000000', { as: owner, body: { name: 'x' } });
      expect(missing.status).toBe(404);
      expect(missing.body.detail).toBe('Team not found');
    });

    it('archives on delete: owner only, repeatable, one team.archived, then read-only', async () => {
      const id = await newTeam('Doomed');
      const denied = await call(base, 'DELETE', `/api/v1/teams/${id}`, { as: stranger });
      expect(denied.status).toBe(403);
      expect(denied.body.detail).toBe('Not your team');

      const r = await call(base, 'DELETE', `/api/v1/teams/${id}`, { as: owner });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'archived', id });
      expect((await call(base, 'GET', `/api/v1/teams/${id}`)).body.status).toBe('archived');
      expect((await call(base, 'GET', '/api/v1/teams?limit=100', { as: owner })).body.teams.some((t: { id: string }) => t.id === id)).toBe(false);
      expect((await call(base, 'DELETE', `/api/v1/teams/${id}`, { as: owner })).body).toEqual({ status: 'archived', id });
      const events = await m.svc.db.outboxEvent.findMany({ where: { subject: id }, orderBy: { seq: 'asc' } });
      expect(events.map((e) => e.type)).toEqual(['team.created', 'team.archived']);

      const patch = await call(base, 'PATCH', `/api/v1/teams/${id}`, { as: owner, body: { name: 'Revived' } });
      expect(patch.status).toBe(409);
      expect(patch.body.detail).toMatch(/archived/);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/members`, { as: owner, body: { agent_id: 'a' } })).status).toBe(409);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/route`, { body: { task: 'anything' } })).status).toBe(409);
      expect((await call(base, 'DELETE', '/api/v1/teams/00000000-0000-4000-8000-000000000000', { as: owner })).status).toBe(404);
    });
  });

  describe('members, routing rules, quality gates and the routing decision', () => {
    let id: string;
    beforeAll(async () => {
      id = await newTeam('Workers');
    });

    it('adds members with roles and skills (owner only), lists and removes them', async () => {
      const r = await call(base, 'POST', `/api/v1/teams/${id}/members`, { as: owner, body: { agent_id: 'agent-nlp', role: 'worker', skills: ['nlp'] } });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ id: expect.stringMatching(UUID), team_id: id, agent_id: 'agent-nlp' });
      expect((await call(base, 'POST', `/api/v1/teams/${id}/members`, { as: owner, body: { agent_id: 'agent-lead', role: 'leader' } })).status).toBe(201);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/members`, { as: owner, body: { agent_id: 'agent-plain' } })).status).toBe(201);

      const list = await call(base, 'GET', `/api/v1/teams/${id}/members`);
      expect(list.status).toBe(200);
      expect(list.body.count).toBe(3);
      expect(list.body.members[0]).toEqual({ id: r.body.id, team_id: id, agent_id: 'agent-nlp', role: 'worker', skills: ['nlp'], joined_at: expect.stringMatching(ISO) });
      expect(list.body.members.slice(1).map((x: { agent_id: string; role: string; skills: string[] }) => [x.agent_id, x.role, x.skills])).toEqual([
        ['agent-lead', 'leader', []],
        ['agent-plain', 'worker', []],
      ]);

      const before = await snapshot();
      const dup = await call(base, 'POST', `/api/v1/teams/${id}/members`, { as: owner, body: { agent_id: 'agent-nlp' } });
      expect(dup.status).toBe(409);
      expect(dup.body.detail).toMatch(/already a member/);
      const badRole = await call(base, 'POST', `/api/v1/teams/${id}/members`, { as: owner, body: { agent_id: 'x', role: 'boss' } });
      expect(badRole.status).toBe(400);
      expect(badRole.body.detail).toMatch(/role/);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/members`, { as: owner, body: { agent_id: '' } })).body.detail).toMatch(/agent_id: must not be empty/);
      const denied = await call(base, 'POST', `/api/v1/teams/${id}/members`, { as: stranger, body: { agent_id: 'spy' } });
      expect(denied.status).toBe(403);
      expect(denied.body.detail).toBe('Not your team');
      expect((await call(base, 'DELETE', `/api/v1/teams/${id}/members/agent-plain`, { as: stranger })).status).toBe(403);
      expect(await snapshot()).toEqual(before);

      const removed = await call(base, 'DELETE', `/api/v1/teams/${id}/members/agent-plain`, { as: owner });
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual({ status: 'removed' });
      const again = await call(base, 'DELETE', `/api/v1/teams/${id}/members/agent-plain`, { as: owner });
      expect(again.status).toBe(404);
      expect(again.body.detail).toBe('Member not found');
    });

    it('adds keyword routing rules (owner only) and lists them by priority, highest first', async () => {
      const low = await call(base, 'POST', `/api/v1/teams/${id}/rules`, { as: owner, body: { name: 'Everything text', keywords: ['text'], target_agent_id: 'agent-lead' } });
      expect(low.status).toBe(201);
      expect(low.body).toEqual({ id: expect.stringMatching(UUID), name: 'Everything text' });
      const high = await call(base, 'POST', `/api/v1/teams/${id}/rules`, { as: owner, body: { name: 'NLP tasks', keywords: ['nlp', 'text'], target_agent_id: 'agent-nlp', priority: 10 } });
      expect(high.status).toBe(201);

      const list = await call(base, 'GET', `/api/v1/teams/${id}/rules`);
      expect(list.body).toEqual({
        rules: [
          { id: high.body.id, name: 'NLP tasks', keywords: ['nlp', 'text'], target_agent_id: 'agent-nlp', priority: 10, enabled: true },
          { id: low.body.id, name: 'Everything text', keywords: ['text'], target_agent_id: 'agent-lead', priority: 0, enabled: true },
        ],
        count: 2,
      });

      const before = await snapshot();
      expect((await call(base, 'POST', `/api/v1/teams/${id}/rules`, { as: owner, body: { name: 'x', keywords: [], target_agent_id: 'a' } })).body.detail).toMatch(/keywords: give at least one keyword/);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/rules`, { as: owner, body: { name: 'x', keywords: ['a'] } })).body.detail).toMatch(/target_agent_id/);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/rules`, { as: owner, body: { name: 'x', keywords: ['a'], target_agent_id: 'a', priority: 1.5 } })).body.detail).toMatch(/priority: must be a whole number/);
      const denied = await call(base, 'POST', `/api/v1/teams/${id}/rules`, { as: stranger, body: { name: 'x', keywords: ['a'], target_agent_id: 'a' } });
      expect(denied.status).toBe(403);
      expect((await call(base, 'DELETE', `/api/v1/teams/${id}/rules/${low.body.id}`, { as: stranger })).status).toBe(403);
      expect(await snapshot()).toEqual(before);
    });

    it('adds quality gates (owner only) and lists them by gate_order, lowest first', async () => {
      const second = await call(base, 'POST', `/api/v1/teams/${id}/gates`, { as: owner, body: { gate_type: 'latency', threshold: 2, gate_order: 2, config: { max_ms: 500 } } });
      expect(second.status).toBe(201);
      expect(second.body).toEqual({ id: expect.stringMatching(UUID), gate_type: 'latency' });
      const first = await call(base, 'POST', `/api/v1/teams/${id}/gates`, { as: owner, body: { gate_type: 'quality_score', threshold: 8.5 } });
      expect(first.body).toEqual({ id: expect.stringMatching(UUID), gate_type: 'quality_score' });

      const list = await call(base, 'GET', `/api/v1/teams/${id}/gates`);
      expect(list.body).toEqual({
        gates: [
          { id: first.body.id, gate_type: 'quality_score', threshold: 8.5, gate_order: 0, config: {}, enabled: true },
          { id: second.body.id, gate_type: 'latency', threshold: 2, gate_order: 2, config: { max_ms: 500 }, enabled: true },
        ],
        count: 2,
      });

      const before = await snapshot();
      expect((await call(base, 'POST', `/api/v1/teams/${id}/gates`, { as: owner, body: { gate_type: 'quality_score', threshold: 10.5 } })).body.detail).toMatch(/threshold: must be between 0.0 and 10.0/);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/gates`, { as: owner, body: { gate_type: 'speed', threshold: 1 } })).body.detail).toMatch(/gate_type/);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/gates`, { as: owner, body: { gate_type: 'custom' } })).body.detail).toMatch(/threshold/);
      expect((await call(base, 'POST', `/api/v1/teams/${id}/gates`, { as: stranger, body: { gate_type: 'custom', threshold: 1 } })).status).toBe(403);
      expect((await call(base, 'DELETE', `/api/v1/teams/${id}/gates/${first.body.id}`, { as: stranger })).status).toBe(403);
      expect(await snapshot()).toEqual(before);
    });

    it('shows members, rules and gates in the team, in the spec’s short form', async () => {
      const r = await call(base, 'GET', `/api/v1/teams/${id}`);
      expect(r.body.members).toEqual([
        { id: expect.stringMatching(UUID), agent_id: 'agent-nlp', role: 'worker', skills: ['nlp'] },
        { id: expect.stringMatching(UUID), agent_id: 'agent-lead', role: 'leader', skills: [] },
      ]);
      expect(r.body.routing_rules).toEqual([
        { id: expect.stringMatching(UUID), name: 'NLP tasks', keywords: ['nlp', 'text'], target_agent_id: 'agent-nlp', priority: 10 },
        { id: expect.stringMatching(UUID), name: 'Everything text', keywords: ['text'], target_agent_id: 'agent-lead', priority: 0 },
      ]);
      expect(r.body.quality_gates).toEqual([
        { id: expect.stringMatching(UUID), gate_type: 'quality_score', threshold: 8.5, gate_order: 0 },
        { id: expect.stringMatching(UUID), gate_type: 'latency', threshold: 2, gate_order: 2 },
      ]);
    });

    it('routes a task: the highest-priority matching rule, else skills, else the leader', async () => {
      const byRule = await call(base, 'POST', `/api/v1/teams/${id}/route`, { body: { task: 'Classify this TEXT please' } });
      expect(byRule.status).toBe(200);
      expect(byRule.body).toEqual({
        team_id: id,
        agent_id: 'agent-nlp',
        matched_by: 'rule',
        rule: { id: expect.stringMatching(UUID), name: 'NLP tasks', priority: 10 },
        matched_keywords: ['text'],
      });
      const fallback = await call(base, 'POST', `/api/v1/teams/${id}/route`, { body: { task: 'Book a flight' } });
      expect(fallback.body).toEqual({ team_id: id, agent_id: 'agent-lead', matched_by: 'role', rule: null, matched_keywords: [] });

      const rules = (await call(base, 'GET', `/api/v1/teams/${id}/rules`)).body.rules as { id: string }[];
      for (const rule of rules) {
        const del = await call(base, 'DELETE', `/api/v1/teams/${id}/rules/${rule.id}`, { as: owner });
        expect(del.body).toEqual({ status: 'deleted', id: rule.id });
      }
      const bySkill = await call(base, 'POST', `/api/v1/teams/${id}/route`, { body: { task: 'an nlp job' } });
      expect(bySkill.body).toMatchObject({ agent_id: 'agent-nlp', matched_by: 'skill', matched_keywords: ['nlp'] });

      expect((await call(base, 'POST', `/api/v1/teams/${id}/route`, { body: {} })).body.detail).toMatch(/task/);
      expect((await call(base, 'POST', '/api/v1/teams/00000000-0000-4000-8000-000000000000/route', { body: { task: 'x' } })).status).toBe(404);
    });

    it('deletes gates and answers 404 for parts that are not there', async () => {
      const gates = (await call(base, 'GET', `/api/v1/teams/${id}/gates`)).body.gates as { id: string }[];
      const del = await call(base, 'DELETE', `/api/v1/teams/${id}/gates/${gates[0].id}`, { as: owner });
      expect(del.body).toEqual({ status: 'deleted', id: gates[0].id });
      expect((await call(base, 'GET', `/api/v1/teams/${id}/gates`)).body.count).toBe(1);
      const gone = await call(base, 'DELETE', `/api/v1/teams/${id}/gates/${gates[0].id}`, { as: owner });
      expect(gone.status).toBe(404);
      expect(gone.body.detail).toBe('Quality gate not found');
      expect((await call(base, 'DELETE', `/api/v1/teams/${id}/rules/not-a-uuid`, { as: owner })).body.detail).toBe('Routing rule not found');
      expect((await call(base, 'DELETE', `/api/v1/teams/${id}/rules/00000000-0000-4000-8000-000000000000`, { as: owner })).status).toBe(404);
    });
  });
});
