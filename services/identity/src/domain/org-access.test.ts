import { ORG_ROLES, OrgRole, canManage, removalRefusal, roleChangeRefusal } from './org-access';

describe('spec 001 org role rules', () => {
  it('lets only owners and admins manage', () => {
    expect(ORG_ROLES.filter(canManage)).toEqual(['owner', 'admin']);
  });

  it('answers every role change: owners anything, admins everything but owners, others nothing', () => {
    const allowed: string[] = [];
    for (const actor of ORG_ROLES) {
      for (const current of ORG_ROLES) {
        for (const next of ORG_ROLES) if (!roleChangeRefusal(actor, current, next)) allowed.push(`${actor}:${current}->${next}`);
      }
    }
    const expected = [
      ...ORG_ROLES.flatMap((c) => ORG_ROLES.map((n) => `owner:${c}->${n}`)),
      ...(['admin', 'member', 'viewer'] as OrgRole[]).flatMap((c) => (['admin', 'member', 'viewer'] as OrgRole[]).map((n) => `admin:${c}->${n}`)),
    ];
    expect(allowed.sort()).toEqual(expected.sort());
    expect(roleChangeRefusal('admin', 'member', 'owner')).toMatch(/Only an owner/);
    expect(roleChangeRefusal('viewer', 'member', 'viewer')).toMatch(/yours is viewer/);
  });

  it('answers every removal: owners anyone, admins anyone but owners, others nobody', () => {
    const allowed = ORG_ROLES.flatMap((actor) => ORG_ROLES.filter((target) => !removalRefusal(actor, target)).map((target) => `${actor}:${target}`));
    expect(allowed).toEqual(['owner:owner', 'owner:admin', 'owner:member', 'owner:viewer', 'admin:admin', 'admin:member', 'admin:viewer']);
  });
});
