import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';

/**
 * Who may do what with spec 001 resources. A caller acts for an account: its organization
 * when it has one, else itself (user id). Inside an organization the role decides
 * (principal roles `org_<role>`, as identity issues them): viewers read, members create and
 * operate (fund, drain, sessions), admins and owners also manage (policy, spending cap,
 * deactivation, key export). A caller without an organization role acts on its own account
 * and may do everything there. Another account's resources are "not found", never "forbidden".
 */
export type Level = 'read' | 'operate' | 'manage';
const RANK: Record<Level, number> = { read: 0, operate: 1, manage: 2 };
const ROLE_LEVEL: Record<string, Level> = { org_viewer: 'read', org_member: 'operate', org_admin: 'manage', org_owner: 'manage' };
const ROLE_NAME: Record<Level, string> = { read: 'viewer', operate: 'member', manage: 'admin' };

export interface Caller {
  /** The account every resource is scoped to. */
  accountId: string;
  /** The person (or key owner) acting; recorded as owner_id of what they create and in audits. */
  actorId: string;
  orgId: string | null;
  level: Level;
}

export function callerOf(p: Principal): Caller {
  const orgRoles = p.roles.filter((r) => r.startsWith('org_'));
  let level: Level = 'manage';
  if (p.org_id && orgRoles.length) {
    level = orgRoles.map((r) => ROLE_LEVEL[r] ?? 'read').reduce((a, b) => (RANK[a] >= RANK[b] ? a : b));
  }
  return { accountId: p.org_id ?? p.owner_id, actorId: p.owner_id, orgId: p.org_id, level };
}

export function requireLevel(c: Caller, needed: Level, what: string): void {
  if (RANK[c.level] < RANK[needed]) {
    throw new AppError('FORBIDDEN', `Your organization role cannot ${what}: it needs the ${ROLE_NAME[needed]} role or higher`);
  }
}
