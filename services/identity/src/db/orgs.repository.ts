import type { Client } from './keys.repository';
import type { InvitationRecord, MemberRecord, OrgStore } from '../domain/ports';

const orgFields = { id: true, name: true, ownerUserId: true, createdAt: true } as const;
const memberFields = { userId: true, role: true, createdAt: true, user: { select: { email: true, walletAddress: true } } } as const;

type MemberRow = { userId: string; role: string; createdAt: Date; user: { email: string | null; walletAddress: string | null } };
const toMember = (m: MemberRow): MemberRecord => ({ userId: m.userId, role: m.role, createdAt: m.createdAt, email: m.user.email, walletAddress: m.user.walletAddress });

export function orgsRepository(db: Client): OrgStore {
  return {
    createOrganization: (o) => db.organization.create({ data: o, select: orgFields }),
    createProject: (p) => db.project.create({ data: p, select: { id: true, slug: true } }),
    createEnvironment: (e) => db.environment.create({ data: e, select: { id: true, name: true } }),
    async membershipOf(userId) {
      return db.orgMember.findFirst({ where: { userId }, orderBy: { createdAt: 'asc' }, select: { orgId: true, role: true } });
    },
    findOrganization: (id) => db.organization.findUnique({ where: { id }, select: orgFields }),
    findUser: (id) => db.user.findUnique({ where: { id }, select: { id: true, email: true } }),
    findUserByEmail: (email) => db.user.findFirst({ where: { email: { equals: email, mode: 'insensitive' } }, select: { id: true, email: true } }),
    async addMember(m) {
      // ON CONFLICT DO NOTHING: the unique user_id index keeps one org per user even under races.
      const { count } = await db.orgMember.createMany({ data: [m], skipDuplicates: true });
      return count === 1;
    },
    async findMember(orgId, userId) {
      const m = await db.orgMember.findUnique({ where: { orgId_userId: { orgId, userId } }, select: memberFields });
      return m && toMember(m);
    },
    async listMembers(orgId, page) {
      const [rows, total] = await Promise.all([
        db.orgMember.findMany({ where: { orgId }, select: memberFields, orderBy: [{ createdAt: 'asc' }, { userId: 'asc' }], take: page.limit, skip: page.offset }),
        db.orgMember.count({ where: { orgId } }),
      ]);
      return { members: rows.map(toMember), total };
    },
    async setMemberRole(orgId, userId, role) {
      return toMember(await db.orgMember.update({ where: { orgId_userId: { orgId, userId } }, data: { role }, select: memberFields }));
    },
    async removeMember(orgId, userId) {
      await db.orgMember.delete({ where: { orgId_userId: { orgId, userId } } });
    },
    countOwners: (orgId) => db.orgMember.count({ where: { orgId, role: 'owner' } }),
    async lockOrganization(orgId) {
      await db.$queryRawUnsafe('SELECT 1 FROM "organizations" WHERE "id" = $1::uuid FOR UPDATE', orgId);
    },
    async upsertInvitation(i) {
      const { id, orgId, email, ...rest } = i;
      const row = await db.orgInvitation.upsert({
        where: { orgId_email: { orgId, email } },
        create: { id, orgId, email, ...rest },
        update: { id, ...rest, createdAt: new Date(), acceptedAt: null, acceptedBy: null },
      });
      return row as InvitationRecord;
    },
    findInvitation: (id) => db.orgInvitation.findUnique({ where: { id } }),
    async pendingInvitationsFor(email, at) {
      const rows = await db.orgInvitation.findMany({
        where: { email, acceptedAt: null, expiresAt: { gt: at } },
        include: { org: { select: { name: true } } },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: 100,
      });
      return rows.map(({ org, ...inv }) => ({ ...inv, orgName: org.name }));
    },
    async acceptInvitation(id, userId, at) {
      const { count } = await db.orgInvitation.updateMany({ where: { id, acceptedAt: null }, data: { acceptedAt: at, acceptedBy: userId } });
      return count === 1;
    },
  };
}
