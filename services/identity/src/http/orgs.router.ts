import { ErrorRequestHandler, Router } from 'express';
import { errorFamily, principalOf, validate } from '@platform/http';
import type { OrgsService } from '../domain/orgs.service';
import type { MemberRecord, OrgRecord } from '../domain/ports';
import { CreateOrgBody, InvitationParams, InviteBody, ListMembersQuery, MemberParams, RoleBody } from './orgs.schemas';
import { unixSeconds } from './format';

const renderOrg = (o: OrgRecord) => ({ id: o.id, name: o.name, owner_id: o.ownerUserId, created_at: unixSeconds(o.createdAt) });
const renderMember = (m: MemberRecord) => ({ id: m.userId, email: m.email, wallet_address: m.walletAddress, role: m.role, joined_at: unixSeconds(m.createdAt) });

/** Spec 001 organization and department prefixes answering `{"error": …}`. */
const ORG_PATHS = ['/org', '/departments'];

/** Bad JSON and oversize bodies fail before any router runs; mounted on the app, this keeps them in spec 001's shape. */
export const orgsErrorFamily: ErrorRequestHandler = (err, req, res, next) => {
  if (ORG_PATHS.some((p) => req.path === p || req.path.startsWith(`${p}/`))) res.locals.errorFamily = 'error';
  next(err);
};

/**
 * Spec 001 "Organizations". Every route re-reads the caller's membership and role from
 * identity's tables (see domain/org-access.ts); errors answer {"error"}.
 */
export function orgsRouter(deps: { orgs: OrgsService }): Router {
  const r = Router();
  r.use('/org', errorFamily('error'));

  r.post('/org', validate({ body: CreateOrgBody }), async (req, res) => {
    res.status(201).json({ org: renderOrg(await deps.orgs.create(principalOf(req), req.body.name)) });
  });

  r.get('/org', async (req, res) => {
    res.json({ org: renderOrg(await deps.orgs.get(principalOf(req))) });
  });

  r.post('/org/invite', validate({ body: InviteBody }), async (req, res) => {
    res.json(await deps.orgs.invite(principalOf(req), req.body));
  });

  r.get('/org/invitations', async (req, res) => {
    const invitations = await deps.orgs.myInvitations(principalOf(req));
    res.json({
      invitations: invitations.map((i) => ({
        id: i.id,
        org_id: i.orgId,
        org_name: i.orgName,
        email: i.email,
        role: i.role,
        created_at: unixSeconds(i.createdAt),
        expires_at: unixSeconds(i.expiresAt),
      })),
    });
  });

  r.post('/org/invitations/:id/accept', validate({ params: InvitationParams }), async (req, res) => {
    const { id } = res.locals.params as { id: string };
    const joined = await deps.orgs.accept(principalOf(req), id);
    res.json({ org: renderOrg(joined.org), role: joined.role });
  });

  r.get('/org/members', validate({ query: ListMembersQuery }), async (req, res) => {
    const { limit, offset } = res.locals.query as { limit: number; offset: number };
    const { members, total } = await deps.orgs.members(principalOf(req), { limit, offset });
    res.json({ members: members.map(renderMember), total, limit, offset });
  });

  r.put('/org/members/:id/role', validate({ params: MemberParams, body: RoleBody }), async (req, res) => {
    const { id } = res.locals.params as { id: string };
    res.json({ member: renderMember(await deps.orgs.changeRole(principalOf(req), id, req.body.role)) });
  });

  r.delete('/org/members/:id', validate({ params: MemberParams }), async (req, res) => {
    const { id } = res.locals.params as { id: string };
    await deps.orgs.remove(principalOf(req), id);
    res.json({ removed: true, id });
  });
  return r;
}
