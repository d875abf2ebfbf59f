import { randomUUID } from 'node:crypto';
import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { MemberRecord, Page, UnitOfWork } from './ports';
import { OrgRole, callerUserId, removalRefusal, requireMembership, roleChangeRefusal } from './org-access';

/** How long an invitation can be accepted. */
export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

const lastOwner = () => new AppError('CONFLICT', 'The organization must keep an owner: make another member owner first');
const memberNotFound = () => new AppError('NOT_FOUND', 'Member not found');

/** Spec 001 "Organizations": one org per user, roles owner/admin/member/viewer, invitations by email. */
export function createOrgsService(deps: { uow: UnitOfWork; clock?: () => Date }) {
  const { uow } = deps;
  const now = deps.clock ?? (() => new Date());

  async function existingUser(principal: Principal) {
    const user = await uow.orgs.findUser(callerUserId(principal));
    if (!user) throw new AppError('UNAUTHORIZED', 'Unknown user');
    return user;
  }

  return {
    async create(principal: Principal, name: string) {
      const user = await existingUser(principal);
      return uow.transaction(async (tx) => {
        const org = await tx.orgs.createOrganization({ name, ownerUserId: user.id, agentIdentity: null });
        if (!(await tx.orgs.addMember({ orgId: org.id, userId: user.id, role: 'owner' }))) {
          throw new AppError('CONFLICT', 'You already belong to an organization');
        }
        return org;
      });
    },

    async get(principal: Principal) {
      const m = await uow.orgs.membershipOf(callerUserId(principal));
      const org = m && (await uow.orgs.findOrganization(m.orgId));
      if (!org) throw new AppError('NOT_FOUND', 'You do not belong to an organization: create one with POST /org or accept an invitation');
      return org;
    },

    async invite(principal: Principal, input: { email: string; role: OrgRole }) {
      const me = await requireMembership(uow, principal, { manage: true });
      if (me.role !== 'owner' && input.role === 'owner') throw new AppError('FORBIDDEN', 'Only an owner can invite an owner');
      const email = input.email.toLowerCase();
      const existing = await uow.orgs.findUserByEmail(email);
      if (existing && (await uow.orgs.findMember(me.orgId, existing.id))) throw new AppError('CONFLICT', `${email} is already a member of this organization`);
      const at = now();
      await uow.orgs.upsertInvitation({ id: randomUUID(), orgId: me.orgId, email, role: input.role, invitedBy: me.userId, expiresAt: new Date(at.getTime() + INVITATION_TTL_MS) });
      return { invited: true as const, email };
    },

    /** Pending invitations addressed to the caller's email. */
    async myInvitations(principal: Principal) {
      const user = await existingUser(principal);
      return user.email ? uow.orgs.pendingInvitationsFor(user.email.toLowerCase(), now()) : [];
    },

    async accept(principal: Principal, invitationId: string) {
      const user = await existingUser(principal);
      const at = now();
      return uow.transaction(async (tx) => {
        const inv = await tx.orgs.findInvitation(invitationId);
        if (!inv) throw new AppError('NOT_FOUND', 'Invitation not found');
        if (!user.email || user.email.toLowerCase() !== inv.email) throw new AppError('FORBIDDEN', 'This invitation was sent to another email address');
        if (inv.acceptedAt) throw new AppError('CONFLICT', 'Invitation already accepted');
        if (inv.expiresAt <= at) throw new AppError('GONE', 'Invitation expired: ask for a new one');
        if (!(await tx.orgs.addMember({ orgId: inv.orgId, userId: user.id, role: inv.role }))) {
          throw new AppError('CONFLICT', 'You already belong to an organization');
        }
        if (!(await tx.orgs.acceptInvitation(inv.id, user.id, at))) throw new AppError('CONFLICT', 'Invitation already accepted');
        const org = await tx.orgs.findOrganization(inv.orgId);
        return { org: org!, role: inv.role };
      });
    },

    async members(principal: Principal, page: Page) {
      const me = await requireMembership(uow, principal);
      return uow.orgs.listMembers(me.orgId, page);
    },

    async changeRole(principal: Principal, memberId: string, role: OrgRole): Promise<MemberRecord> {
      const me = await requireMembership(uow, principal, { manage: true });
      return uow.transaction(async (tx) => {
        await tx.orgs.lockOrganization(me.orgId);
        // Re-read under the lock: the caller's own role may have changed since.
        const actor = await tx.orgs.findMember(me.orgId, me.userId);
        const target = await tx.orgs.findMember(me.orgId, memberId);
        if (!actor) throw new AppError('FORBIDDEN', 'You no longer belong to this organization');
        if (!target) throw memberNotFound();
        const refusal = roleChangeRefusal(actor.role as OrgRole, target.role as OrgRole, role);
        if (refusal) throw new AppError('FORBIDDEN', refusal);
        if (target.role === role) return target;
        if (target.role === 'owner' && (await tx.orgs.countOwners(me.orgId)) <= 1) throw lastOwner();
        return tx.orgs.setMemberRole(me.orgId, memberId, role);
      });
    },

    async remove(principal: Principal, memberId: string) {
      const me = await requireMembership(uow, principal, { manage: true });
      await uow.transaction(async (tx) => {
        await tx.orgs.lockOrganization(me.orgId);
        const actor = await tx.orgs.findMember(me.orgId, me.userId);
        const target = await tx.orgs.findMember(me.orgId, memberId);
        if (!actor) throw new AppError('FORBIDDEN', 'You no longer belong to this organization');
        if (!target) throw memberNotFound();
        const refusal = removalRefusal(actor.role as OrgRole, target.role as OrgRole);
        if (refusal) throw new AppError('FORBIDDEN', refusal);
        if (target.role === 'owner' && (await tx.orgs.countOwners(me.orgId)) <= 1) throw lastOwner();
        await tx.orgs.removeMember(me.orgId, memberId);
      });
    },
  };
}
export type OrgsService = ReturnType<typeof createOrgsService>;
