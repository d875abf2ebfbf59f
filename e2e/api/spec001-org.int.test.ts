import { randomUUID } from 'node:crypto';
import { createEnvelope, EventData } from '@platform/events';
import { eventually } from '@platform/testing';
import { startPlatform, client, bearer, TestPlatform, ADMIN_KEY } from '../support/platform';

jest.setTimeout(60_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Spec 001 "Organizations" and "Departments": every documented request, sent to the gateway as a client would. */
describe('spec 001 organizations and departments through the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;

  /** A user signed in the documented way: register, then log in for a JWT. */
  const signUp = async (email = `u-${randomUUID().slice(0, 8)}@example.com`) => {
    const password = 'secure-password-here';
    const registered = await api.post('/auth/register', { email, password });
    expect(registered.status).toBeLessThan(300);
    const login = await api.post('/auth/login', { email, password });
    expect(login.status).toBe(200);
    // The JWT carries the org role of its login time; the org routes re-read it from identity.
    return { email, auth: bearer(login.body.token as string) };
  };
  type User = Awaited<ReturnType<typeof signUp>>;
  const userId = async (u: User) => (await api.get('/org/members', u.auth)).body.members.find((m: { email: string }) => m.email === u.email).id as string;

  /** Plays the wallets service: its agents arrive at identity as wallet.agent.* events. */
  const walletEvent = async (type: 'wallet.agent.created' | 'wallet.agent.updated', data: EventData<'wallet.agent.created'>) => {
    await platform.standalone.bus!.publish([createEnvelope('wallets', type, data.agent_id, data) as never]);
  };

  beforeAll(async () => {
    platform = await startPlatform('s001org');
    api = client(platform.url);
  });
  afterAll(() => platform?.stop());

  let owner: User;
  let orgId: string;

  it('POST /org creates the organization with the caller as owner; GET /org shows it', async () => {
    owner = await signUp('dev@example.com');
    const res = await api.post('/org', { name: 'Acme AI Labs' }, owner.auth);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ org: { id: expect.stringMatching(UUID), name: 'Acme AI Labs', owner_id: expect.stringMatching(UUID), created_at: expect.any(Number) } });
    orgId = res.body.org.id;
    const got = await api.get('/org', owner.auth);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
    expect((await api.post('/org', { name: 'Second' }, owner.auth)).status).toBe(409);
  });

  it('POST /org/invite invites by email; the invitee joins with the role by accepting', async () => {
    const res = await api.post('/org/invite', { email: 'teammate@example.com', role: 'member' }, owner.auth);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ invited: true, email: 'teammate@example.com' });

    const teammate = await signUp('teammate@example.com');
    const mine = await api.get('/org/invitations', teammate.auth);
    expect(mine.body.invitations).toEqual([expect.objectContaining({ org_id: orgId, org_name: 'Acme AI Labs', role: 'member' })]);
    const accepted = await api.post(`/org/invitations/${mine.body.invitations[0].id}/accept`, undefined, teammate.auth);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ org: { id: orgId }, role: 'member' });

    const members = await api.get('/org/members', teammate.auth);
    expect(members.status).toBe(200);
    expect(members.body).toMatchObject({ total: 2, limit: 50, offset: 0 });
    expect(members.body.members.map((m: { email: string; role: string }) => [m.email, m.role])).toEqual([
      ['dev@example.com', 'owner'],
      ['teammate@example.com', 'member'],
    ]);
  });

  it('enforces roles on every write: viewers and members are refused with 403 {"error"}, unknown roles with 400', async () => {
    const join = async (role: string) => {
      const u = await signUp();
      await api.post('/org/invite', { email: u.email, role }, owner.auth);
      const [inv] = (await api.get('/org/invitations', u.auth)).body.invitations;
      expect((await api.post(`/org/invitations/${inv.id}/accept`, undefined, u.auth)).status).toBe(200);
      return u;
    };
    const viewer = await join('viewer');
    const member = await join('member');
    const admin = await join('admin');
    const memberId = await userId(member);
    const ownerId = await userId(owner);

    for (const actor of [viewer, member]) {
      for (const [method, path, body] of [
        ['PUT', `/org/members/${memberId}/role`, { role: 'admin' }],
        ['DELETE', `/org/members/${memberId}`, undefined],
        ['POST', '/org/invite', { email: 'x@example.com', role: 'viewer' }],
        ['POST', '/departments', { name: 'Sneaky', budget_limit: 1 }],
      ] as const) {
        const res = await api.send(method, path, body, actor.auth);
        expect(res.status).toBe(403);
        expect(res.body).toEqual({ error: expect.any(String), request_id: expect.any(String) });
      }
    }
    expect((await api.get('/org/members', viewer.auth)).body.members.find((m: { id: string }) => m.id === memberId).role).toBe('member');

    // Admins manage everyone but owners.
    const promoted = await api.put(`/org/members/${memberId}/role`, { role: 'admin' }, admin.auth);
    expect(promoted.status).toBe(200);
    expect(promoted.body.member).toMatchObject({ id: memberId, role: 'admin' });
    expect((await api.put(`/org/members/${ownerId}/role`, { role: 'viewer' }, admin.auth)).status).toBe(403);
    expect((await api.put(`/org/members/${memberId}/role`, { role: 'owner' }, admin.auth)).status).toBe(403);
    const unknown = await api.put(`/org/members/${memberId}/role`, { role: 'superuser' }, owner.auth);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/role must be one of owner, admin, member, viewer/);

    // The last owner stays.
    expect((await api.delete(`/org/members/${ownerId}`, owner.auth)).status).toBe(409);
    const removed = await api.delete(`/org/members/${await userId(viewer)}`, admin.auth);
    expect(removed.status).toBe(200);
    expect((await api.get('/org', viewer.auth)).status).toBe(404);
  });

  it('answers 401 {"error"} without a credential and 403 for a non-user key', async () => {
    const none = await api.get('/org');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: expect.any(String) });
    const acf = await api.get('/org/members', bearer(ADMIN_KEY));
    expect(acf.status).toBe(403);
    expect(acf.body).toMatchObject({ error: expect.any(String) });
  });

  it('departments: the documented create, update, list with agent counts and spend, and delete to Unassigned', async () => {
    const created = await api.post('/departments', { name: 'Engineering', budget_limit: 500000000 }, owner.auth);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ department: { id: expect.stringMatching(UUID), name: 'Engineering', budget_limit: 500000000, agent_count: 0, created_at: expect.any(Number) } });
    const dept = created.body.department;

    const updated = await api.put(`/departments/${dept.id}`, { name: 'Engineering (Core)', budget_limit: 750000000 }, owner.auth);
    expect(updated.status).toBe(200);
    expect(updated.body).toEqual({ department: { ...dept, name: 'Engineering (Core)', budget_limit: 750000000 } });

    const ownerId = await userId(owner);
    const agent = { agent_id: randomUUID(), org_id: orgId, owner_id: ownerId, name: 'Research Bot', department_id: dept.id, wallet_address: '0x7a3f000000000000000000000000000000000009' };
    await walletEvent('wallet.agent.created', agent);
    const listed = await eventually(async () => {
      const res = await api.get('/departments', owner.auth);
      return res.body.departments?.[0]?.agent_count === 1 && res;
    });
    expect(listed.body).toEqual({
      departments: [{ id: dept.id, name: 'Engineering (Core)', budget_limit: 750000000, agent_count: 1, total_spend: 0, budget_remaining: 750000000, created_at: dept.created_at }],
      unassigned: { agent_count: 0, total_spend: 0 },
      total: 1,
      limit: 50,
      offset: 0,
    });
    // The wallet agent is the same agent in spec 002.
    expect((await api.get(`/api/v1/agents/${agent.agent_id}`)).body).toMatchObject({ agent_id: agent.agent_id, display_name: 'Research Bot' });

    const bad = await api.post('/departments', { name: 'Engineering (Core)', budget_limit: 1.5 }, owner.auth);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/budget_limit/);
    expect((await api.put(`/departments/${randomUUID()}`, { name: 'x' }, owner.auth)).status).toBe(404);

    const deleted = await api.delete(`/departments/${dept.id}`, owner.auth);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: true, id: dept.id });
    expect((await api.get('/departments', owner.auth)).body).toMatchObject({ departments: [], unassigned: { agent_count: 1, total_spend: 0 } });
  });
});
