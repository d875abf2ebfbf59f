import type { Client } from './keys.repository';
import type { OrgStore } from '../domain/ports';

export function orgsRepository(db: Client): OrgStore {
  return {
    createOrganization: (o) => db.organization.create({ data: o, select: { id: true, name: true } }),
    createProject: (p) => db.project.create({ data: p, select: { id: true, slug: true } }),
    createEnvironment: (e) => db.environment.create({ data: e, select: { id: true, name: true } }),
    async membershipOf(userId) {
      return db.orgMember.findFirst({ where: { userId }, orderBy: { createdAt: 'asc' }, select: { orgId: true, role: true } });
    },
  };
}
