import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { Stores } from './ports';

/** Spec 001 roles, strongest first. */
export const ORG_ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

/** Owners and admins invite, change roles, remove members and write departments; members and viewers read. */
export const canManage = (role: string) => role === 'owner' || role === 'admin';

export interface Membership {
  userId: string;
  orgId: string;
  role: OrgRole;
}

/**
 * Spec 001 callers are users: a JWT from login or an ig_ key, whose principal carries the user
 * id as owner_id and roles ["user", "org_<role>"]. Any other credential family is refused.
 */
export function callerUserId(principal: Principal): string {
  if (!principal.roles.includes('user')) {
    throw new AppError('FORBIDDEN', 'Organizations need a signed-in user: use a token from /auth/login or an ig_ API key');
  }
  return principal.owner_id;
}

/**
 * The caller's membership read from identity's own tables on every request: the role in a
 * JWT or a cached principal may be up to a token lifetime old, the database is not.
 */
export async function requireMembership(stores: Pick<Stores, 'orgs'>, principal: Principal, opts: { manage?: boolean } = {}): Promise<Membership> {
  const userId = callerUserId(principal);
  const m = await stores.orgs.membershipOf(userId);
  if (!m) throw new AppError('FORBIDDEN', 'You do not belong to an organization: create one with POST /org or accept an invitation');
  if (opts.manage && !canManage(m.role)) throw new AppError('FORBIDDEN', `Requires the owner or admin role in the organization (yours is ${m.role})`);
  return { userId, orgId: m.orgId, role: m.role as OrgRole };
}

/**
 * Whether `actor` may move a member from `current` to `next`; null when allowed. Admins manage
 * admins, members and viewers; only owners touch owners. The last-owner rule is checked apart,
 * under the org's lock, because it depends on the other members.
 */
export function roleChangeRefusal(actor: OrgRole, current: OrgRole, next: OrgRole): string | null {
  if (!canManage(actor)) return `Requires the owner or admin role in the organization (yours is ${actor})`;
  if (actor !== 'owner' && (current === 'owner' || next === 'owner')) return 'Only an owner can make someone an owner or change an owner\'s role';
  return null;
}

export function removalRefusal(actor: OrgRole, target: OrgRole): string | null {
  if (!canManage(actor)) return `Requires the owner or admin role in the organization (yours is ${actor})`;
  if (actor !== 'owner' && target === 'owner') return 'Only an owner can remove an owner';
  return null;
}
