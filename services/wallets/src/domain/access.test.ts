import type { Principal } from '@platform/auth';
import { callerOf, requireLevel } from './access';

const principal = (p: Partial<Principal>): Principal => ({ owner_id: 'u1', kind: 'jwt', key_id: null, roles: ['user'], org_id: null, rate_limit: null, ...p });

describe('callerOf', () => {
  it('scopes a user without an organization to itself, with every right', () => {
    expect(callerOf(principal({}))).toEqual({ accountId: 'u1', actorId: 'u1', orgId: null, level: 'manage' });
  });

  it.each([
    ['org_viewer', 'read'],
    ['org_member', 'operate'],
    ['org_admin', 'manage'],
    ['org_owner', 'manage'],
  ])('scopes an organization member to the organization; %s may %s', (role, level) => {
    expect(callerOf(principal({ org_id: 'o1', roles: ['user', role] }))).toEqual({ accountId: 'o1', actorId: 'u1', orgId: 'o1', level });
  });

  it('refuses a lower role with 403 naming the role needed', () => {
    const viewer = callerOf(principal({ org_id: 'o1', roles: ['user', 'org_viewer'] }));
    expect(() => requireLevel(viewer, 'operate', 'fund agents')).toThrow(/member role or higher/);
    expect(() => requireLevel(viewer, 'read', 'list agents')).not.toThrow();
  });
});
