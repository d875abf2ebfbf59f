import { call, Identity, startIdentity, asCaller, BOOTSTRAP } from './support';
import { as, newOrg, newUser, orgSnapshot } from './org-support';
import { asUser, newUser as signUp } from './auth-support';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Real PostgreSQL on a machine shared with other suites: start-up and teardown can be slow.
jest.setTimeout(30_000);

describe('spec 001 organizations', () => {
  let id: Identity;
  beforeAll(async () => {
    id = await startIdentity('identity_orgs');
  });
  afterAll(() => id.stop());

  // Shared by refusal cases that change nothing, so each does not sign users up again.
  let shared: Promise<Awaited<ReturnType<typeof newOrg>>> | undefined;
  const sharedOrg = () => (shared ??= newOrg(id, 'Shared'));
  let lonely: ReturnType<typeof newUser> | undefined;
  const loner = () => (lonely ??= newUser(id));

  const expectRefused = async (res: { status: number; body: any }, status: number, before: unknown) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(res.status).toBe(status);
    expect(Object.keys(res.body).sort()).toEqual(['error', 'request_id']);
    expect(typeof res.body.error).toBe('string');
    expect(await orgSnapshot(id.svc.db)).toEqual(before);
  };

  describe('POST /org and GET /org', () => {
    it('creates the org with the caller as owner and answers the spec shape', async () => {
      const user = await newUser(id);
      const before = Math.floor(Date.now() / 1000);
      const res = await as(id, user, 'POST', '/org', { name: 'Acme AI Labs' });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ org: { id: expect.stringMatching(UUID), name: 'Acme AI Labs', owner_id: user.id, created_at: expect.any(Number) } });
      expect(res.body.org.created_at).toBeGreaterThanOrEqual(before - 1);
      expect(await id.svc.db.orgMember.findMany({ where: { orgId: res.body.org.id } })).toEqual([expect.objectContaining({ userId: user.id, role: 'owner' })]);

      const got = await as(id, user, 'GET', '/org');
      expect(got.status).toBe(200);
      expect(got.body).toEqual(res.body);
      // The key's principal now names the org and the role.
      const principal = JSON.parse(Buffer.from((await user.headers())['x-internal-principal'].split('.')[1], 'base64url').toString()).p;
      expect(principal).toMatchObject({ org_id: res.body.org.id, roles: ['user', 'org_owner'] });
    });

    it('refuses a second org for the same user (one org per user) and changes nothing', async () => {
      const { owner } = await newOrg(id);
      const before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, owner, 'POST', '/org', { name: 'Second' }), 409, before);
    });

    it.each([
      ['no name', {}],
      ['an empty name', { name: '   ' }],
      ['a name of 129 characters', { name: 'x'.repeat(129) }],
      ['a name that is not a string', { name: 42 }],
      ['bad JSON', '{"name": '],
    ])('answers 400 {"error"} for %s and changes nothing', async (_what, body) => {
      const user = await loner();
      const before = await orgSnapshot(id.svc.db);
      const res = await as(id, user, 'POST', '/org', body);
      await expectRefused(res, 400, before);
    });

    it('answers 401 without a principal and 403 for non-user credentials (an acf_ key)', async () => {
      const before = await orgSnapshot(id.svc.db);
      await expectRefused(await call(id.url, 'POST', '/org', { name: 'x' }), 401, before);
      const admin = await asCaller(id.url, `${BOOTSTRAP.keyId}:${BOOTSTRAP.secret}`);
      await expectRefused(await call(id.url, 'POST', '/org', { name: 'x' }, admin), 403, before);
      await expectRefused(await call(id.url, 'GET', '/org/members', undefined, admin), 403, before);
    });

    it('accepts a login JWT issued before the org existed: the org routes read the membership, not the token', async () => {
      const login = await signUp(id.url);
      const jwt = asUser(login.token);
      const created = await as(id, jwt, 'POST', '/org', { name: 'JWT Org' });
      expect(created.status).toBe(201);
      expect(created.body.org.owner_id).toBe(login.user.id);
      expect((await as(id, jwt, 'GET', '/org/members')).body.members).toEqual([expect.objectContaining({ id: login.user.id, role: 'owner' })]);
      expect((await as(id, jwt, 'POST', '/departments', { name: 'Ops', budget_limit: 1 })).status).toBe(201);
    });

    it('answers 404 {"error"} to GET /org for a user without an org', async () => {
      const user = await newUser(id);
      const res = await as(id, user, 'GET', '/org');
      expect(res.status).toBe(404);
      expect(res.body.error).toMatch(/do not belong to an organization/);
    });
  });

  describe('POST /org/invite and accepting', () => {
    it('stores an invitation an existing user accepts, joining with the role', async () => {
      const org = await newOrg(id);
      const invitee = await newUser(id, 'Teammate@Example.com');
      const res = await as(id, org.owner, 'POST', '/org/invite', { email: 'teammate@example.com', role: 'member' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ invited: true, email: 'teammate@example.com' });

      const mine = await as(id, invitee, 'GET', '/org/invitations');
      expect(mine.status).toBe(200);
      expect(mine.body.invitations).toEqual([
        { id: expect.stringMatching(UUID), org_id: org.orgId, org_name: 'Acme AI Labs', email: 'teammate@example.com', role: 'member', created_at: expect.any(Number), expires_at: expect.any(Number) },
      ]);
      const accepted = await as(id, invitee, 'POST', `/org/invitations/${mine.body.invitations[0].id}/accept`);
      expect(accepted.status).toBe(200);
      expect(accepted.body).toEqual({ org: { id: org.orgId, name: 'Acme AI Labs', owner_id: org.owner.id, created_at: expect.any(Number) }, role: 'member' });
      const members = await as(id, invitee, 'GET', '/org/members');
      expect(members.body.members.find((m: { id: string }) => m.id === invitee.id)).toMatchObject({ role: 'member', email: 'teammate@example.com' });
      expect((await as(id, invitee, 'GET', '/org/invitations')).body.invitations).toEqual([]);
    });

    it('lets a user who registers later accept, and an admin invite viewers and admins', async () => {
      const org = await newOrg(id);
      expect((await as(id, org.admin, 'POST', '/org/invite', { email: 'later@example.com', role: 'admin' })).status).toBe(200);
      const later = await newUser(id, 'later@example.com');
      const [inv] = (await as(id, later, 'GET', '/org/invitations')).body.invitations;
      expect(inv.role).toBe('admin');
      expect((await as(id, later, 'POST', `/org/invitations/${inv.id}/accept`)).status).toBe(200);
      expect((await id.svc.db.orgMember.findUniqueOrThrow({ where: { orgId_userId: { orgId: org.orgId, userId: later.id } } })).role).toBe('admin');
    });

    it('refuses invites from viewers and members, an owner invite from an admin, and an existing member, changing nothing', async () => {
      const org = await newOrg(id);
      const before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, org.viewer, 'POST', '/org/invite', { email: 'x@example.com', role: 'viewer' }), 403, before);
      await expectRefused(await as(id, org.member, 'POST', '/org/invite', { email: 'x@example.com', role: 'member' }), 403, before);
      await expectRefused(await as(id, org.admin, 'POST', '/org/invite', { email: 'x@example.com', role: 'owner' }), 403, before);
      await expectRefused(await as(id, org.owner, 'POST', '/org/invite', { email: org.member.email, role: 'admin' }), 409, before);
      const outsider = await newUser(id);
      await expectRefused(await as(id, outsider, 'POST', '/org/invite', { email: 'x@example.com', role: 'member' }), 403, await orgSnapshot(id.svc.db));
    });

    it.each([
      ['an unknown role', { email: 'a@example.com', role: 'superuser' }],
      ['no role', { email: 'a@example.com' }],
      ['a malformed email', { email: 'not-an-email', role: 'member' }],
      ['no email', { role: 'member' }],
      ['an oversize email', { email: `${'a'.repeat(250)}@example.com`, role: 'member' }],
    ])('answers 400 {"error"} to an invite with %s', async (_what, body) => {
      const org = await sharedOrg();
      const before = await orgSnapshot(id.svc.db);
      const res = await as(id, org.owner, 'POST', '/org/invite', body);
      await expectRefused(res, 400, before);
      if ((body as { role?: string }).role === 'superuser') expect(res.body.error).toMatch(/role must be one of owner, admin, member, viewer/);
    });

    it('refuses accepting another email\'s, an expired, an unknown or a used invitation, or while in an org', async () => {
      const org = await newOrg(id);
      const invitee = await newUser(id);
      const other = await newUser(id);
      await as(id, org.owner, 'POST', '/org/invite', { email: invitee.email, role: 'viewer' });
      const [inv] = (await as(id, invitee, 'GET', '/org/invitations')).body.invitations;

      let before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, other, 'POST', `/org/invitations/${inv.id}/accept`), 403, before);
      await expectRefused(await as(id, other, 'POST', '/org/invitations/00000000-0000-4000-8000-000000000000/accept'), 404, before);
      await expectRefused(await as(id, other, 'POST', '/org/invitations/not-a-uuid/accept'), 400, before);

      await id.svc.db.orgInvitation.update({ where: { id: inv.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
      before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, invitee, 'POST', `/org/invitations/${inv.id}/accept`), 410, before);

      // Inviting again refreshes it; a user already in an org cannot take it.
      await as(id, org.owner, 'POST', '/org/invite', { email: invitee.email, role: 'viewer' });
      const [fresh] = (await as(id, invitee, 'GET', '/org/invitations')).body.invitations;
      const busy = await newOrg(id, 'Busy');
      await id.svc.db.orgMember.create({ data: { orgId: busy.orgId, userId: invitee.id, role: 'viewer' } });
      before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, invitee, 'POST', `/org/invitations/${fresh.id}/accept`), 409, before);
      await id.svc.db.orgMember.delete({ where: { orgId_userId: { orgId: busy.orgId, userId: invitee.id } } });

      expect((await as(id, invitee, 'POST', `/org/invitations/${fresh.id}/accept`)).status).toBe(200);
      await id.svc.db.orgMember.delete({ where: { orgId_userId: { orgId: org.orgId, userId: invitee.id } } });
      before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, invitee, 'POST', `/org/invitations/${fresh.id}/accept`), 409, before);
    });
  });

  describe('GET /org/members', () => {
    it('lists every role to every member, paginated', async () => {
      const org = await newOrg(id);
      for (const reader of [org.viewer, org.member, org.admin, org.owner]) {
        const res = await as(id, reader, 'GET', '/org/members');
        expect(res.status).toBe(200);
        expect(res.body.total).toBe(4);
        expect(res.body.members.map((m: { role: string }) => m.role)).toEqual(['owner', 'admin', 'member', 'viewer']);
      }
      const page = await as(id, org.viewer, 'GET', '/org/members?limit=2&offset=1');
      expect(page.body).toEqual({
        members: [
          { id: org.admin.id, email: org.admin.email, wallet_address: null, role: 'admin', joined_at: expect.any(Number) },
          { id: org.member.id, email: org.member.email, wallet_address: null, role: 'member', joined_at: expect.any(Number) },
        ],
        total: 4,
        limit: 2,
        offset: 1,
      });
      for (const q of ['limit=0', 'limit=101', 'offset=-1', 'limit=abc']) {
        const bad = await as(id, org.viewer, 'GET', `/org/members?${q}`);
        expect(bad.status).toBe(400);
        expect(typeof bad.body.error).toBe('string');
      }
    });

    it('refuses a user without an org with 403', async () => {
      const res = await as(id, await newUser(id), 'GET', '/org/members');
      expect(res.status).toBe(403);
      expect(res.body.error).toMatch(/do not belong/);
    });
  });

  describe('PUT /org/members/:id/role and DELETE /org/members/:id', () => {
    it('refuses viewers and members on every target, changing nothing', async () => {
      const org = await newOrg(id);
      const before = await orgSnapshot(id.svc.db);
      for (const actor of [org.viewer, org.member]) {
        for (const target of [org.owner, org.admin, org.member, org.viewer]) {
          await expectRefused(await as(id, actor, 'PUT', `/org/members/${target.id}/role`, { role: 'admin' }), 403, before);
          await expectRefused(await as(id, actor, 'DELETE', `/org/members/${target.id}`), 403, before);
        }
      }
    });

    it('lets an admin manage admins, members and viewers but never owners', async () => {
      const org = await newOrg(id);
      const promoted = await as(id, org.admin, 'PUT', `/org/members/${org.member.id}/role`, { role: 'admin' });
      expect(promoted.status).toBe(200);
      expect(promoted.body).toEqual({ member: { id: org.member.id, email: org.member.email, wallet_address: null, role: 'admin', joined_at: expect.any(Number) } });
      expect((await as(id, org.admin, 'PUT', `/org/members/${org.member.id}/role`, { role: 'viewer' })).body.member.role).toBe('viewer');

      const before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, org.admin, 'PUT', `/org/members/${org.viewer.id}/role`, { role: 'owner' }), 403, before);
      await expectRefused(await as(id, org.admin, 'PUT', `/org/members/${org.owner.id}/role`, { role: 'admin' }), 403, before);
      await expectRefused(await as(id, org.admin, 'DELETE', `/org/members/${org.owner.id}`), 403, before);

      const removed = await as(id, org.admin, 'DELETE', `/org/members/${org.viewer.id}`);
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual({ removed: true, id: org.viewer.id });
      expect(await id.svc.db.orgMember.findUnique({ where: { orgId_userId: { orgId: org.orgId, userId: org.viewer.id } } })).toBeNull();
    });

    it('never removes or demotes the last owner, and lets an owner hand ownership over', async () => {
      const org = await newOrg(id);
      let before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, org.owner, 'PUT', `/org/members/${org.owner.id}/role`, { role: 'admin' }), 409, before);
      await expectRefused(await as(id, org.owner, 'DELETE', `/org/members/${org.owner.id}`), 409, before);

      expect((await as(id, org.owner, 'PUT', `/org/members/${org.admin.id}/role`, { role: 'owner' })).body.member.role).toBe('owner');
      expect((await as(id, org.owner, 'PUT', `/org/members/${org.owner.id}/role`, { role: 'member' })).body.member.role).toBe('member');
      // The former owner now holds "member" in the database, whatever its earlier principal said.
      before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, org.owner, 'DELETE', `/org/members/${org.viewer.id}`), 403, before);
      await expectRefused(await as(id, org.admin, 'DELETE', `/org/members/${org.admin.id}`), 409, before);
    });

    it('re-checks the role in the database, not the principal the caller presents', async () => {
      const org = await newOrg(id);
      const staleAdmin = await org.admin.headers();
      await id.svc.db.orgMember.update({ where: { orgId_userId: { orgId: org.orgId, userId: org.admin.id } }, data: { role: 'viewer' } });
      const before = await orgSnapshot(id.svc.db);
      await expectRefused(await as(id, staleAdmin, 'DELETE', `/org/members/${org.member.id}`), 403, before);
      await expectRefused(await as(id, staleAdmin, 'POST', '/org/invite', { email: 'y@example.com', role: 'member' }), 403, before);
    });

    it('keeps one owner when two owners demote each other at once', async () => {
      const org = await newOrg(id);
      await id.svc.db.orgMember.update({ where: { orgId_userId: { orgId: org.orgId, userId: org.admin.id } }, data: { role: 'owner' } });
      const [a, b] = await Promise.all([
        as(id, org.owner, 'PUT', `/org/members/${org.admin.id}/role`, { role: 'member' }),
        as(id, org.admin, 'PUT', `/org/members/${org.owner.id}/role`, { role: 'member' }),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, 403]);
      expect(await id.svc.db.orgMember.count({ where: { orgId: org.orgId, role: 'owner' } })).toBe(1);
    });

    it('answers 400 for an unknown role or a malformed id and 404 for someone outside the org', async () => {
      const org = await newOrg(id);
      const other = await newOrg(id, 'Other');
      const before = await orgSnapshot(id.svc.db);
      const unknownRole = await as(id, org.owner, 'PUT', `/org/members/${org.member.id}/role`, { role: 'root' });
      await expectRefused(unknownRole, 400, before);
      expect(unknownRole.body.error).toMatch(/role must be one of owner, admin, member, viewer/);
      await expectRefused(await as(id, org.owner, 'PUT', `/org/members/${org.member.id}/role`, {}), 400, before);
      await expectRefused(await as(id, org.owner, 'PUT', '/org/members/nope/role', { role: 'admin' }), 400, before);
      await expectRefused(await as(id, org.owner, 'DELETE', '/org/members/nope'), 400, before);
      await expectRefused(await as(id, org.owner, 'PUT', `/org/members/${other.member.id}/role`, { role: 'admin' }), 404, before);
      await expectRefused(await as(id, org.owner, 'DELETE', `/org/members/${other.member.id}`), 404, before);
    });
  });
});
