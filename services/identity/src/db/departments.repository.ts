import { Prisma } from '../generated/prisma/client';
import type { Client } from './keys.repository';
import type { DepartmentStats, DepartmentStore, WalletAgentFacts } from '../domain/ports';

const fields = { id: true, orgId: true, name: true, budgetLimit: true, createdAt: true } as const;

export function departmentsRepository(db: Client): DepartmentStore {
  return {
    async create(d) {
      // ON CONFLICT DO NOTHING instead of catching the unique violation, which would abort the transaction.
      const { count } = await db.department.createMany({ data: [d], skipDuplicates: true });
      return count === 1 ? db.department.findUniqueOrThrow({ where: { id: d.id }, select: fields }) : null;
    },
    findInOrg: (orgId, id) => db.department.findFirst({ where: { id, orgId }, select: fields }),
    findByName: (orgId, name) => db.department.findUnique({ where: { orgId_name: { orgId, name } }, select: fields }),
    async list(orgId, page) {
      const [departments, total] = await Promise.all([
        db.department.findMany({ where: { orgId }, select: fields, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: page.limit, skip: page.offset }),
        db.department.count({ where: { orgId } }),
      ]);
      return { departments, total };
    },
    async update(id, patch) {
      try {
        return await db.department.update({ where: { id }, data: patch, select: fields });
      } catch (err) {
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') return null;
        throw err;
      }
    },
    async delete(id) {
      // Foreign keys set its agents' and payments' department_id to null: "Unassigned" (spec 001).
      await db.department.delete({ where: { id } });
    },
    async stats(ids) {
      const out = new Map<string, DepartmentStats>(ids.map((id) => [id, { agentCount: 0, totalSpend: 0n }]));
      if (!ids.length) return out;
      const [agents, spend] = await Promise.all([
        db.walletAgent.groupBy({ by: ['departmentId'], where: { departmentId: { in: ids }, active: true }, _count: { _all: true } }),
        db.agentPayment.groupBy({ by: ['departmentId'], where: { departmentId: { in: ids } }, _sum: { amountMicros: true } }),
      ]);
      for (const a of agents) out.get(a.departmentId!)!.agentCount = a._count._all;
      for (const s of spend) out.get(s.departmentId!)!.totalSpend = s._sum.amountMicros ?? 0n;
      return out;
    },
    async unassigned(orgId) {
      const [agentCount, spend] = await Promise.all([
        db.walletAgent.count({ where: { orgId, departmentId: null, active: true } }),
        db.agentPayment.aggregate({ where: { orgId, departmentId: null }, _sum: { amountMicros: true } }),
      ]);
      return { agentCount, totalSpend: spend._sum.amountMicros ?? 0n };
    },
    walletAgent: (agentId) => db.walletAgent.findUnique({ where: { agentId } }),
    walletAgents: (agentIds) => (agentIds.length ? db.walletAgent.findMany({ where: { agentId: { in: agentIds } } }) : Promise.resolve([])),
    async saveWalletAgent(a: WalletAgentFacts) {
      const { agentId, ...rest } = a;
      const { count } = await db.walletAgent.updateMany({ where: { agentId, eventAt: { lte: a.eventAt } }, data: rest });
      if (count === 1) return true;
      const created = await db.walletAgent.createMany({ data: [a], skipDuplicates: true });
      return created.count === 1;
    },
    async recordPayment(p) {
      const { count } = await db.agentPayment.createMany({ data: [p], skipDuplicates: true });
      return count === 1;
    },
    async recordPayments(ps) {
      if (!ps.length) return 0;
      const { count } = await db.agentPayment.createMany({ data: ps, skipDuplicates: true });
      return count;
    },
  };
}
