import { randomUUID } from 'node:crypto';
import type { Principal } from '@platform/auth';
import type { EventData } from '@platform/events';
import { AppError } from '@platform/http';
import type { DepartmentRecord, DepartmentStats, Page, Stores, UnitOfWork } from './ports';
import { requireMembership } from './org-access';

export type DepartmentWithStats = DepartmentRecord & DepartmentStats;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const notFound = () => new AppError('NOT_FOUND', 'Department not found');
const nameTaken = (name: string) => new AppError('CONFLICT', `A department named "${name}" already exists`);

const eventData = (d: DepartmentRecord) => ({ department_id: d.id, org_id: d.orgId, name: d.name, budget_limit: d.budgetLimit.toString() });

type WalletAgentEvent = EventData<'wallet.agent.created'>;

/**
 * Spec 001 "Departments": groups of agents with a budget. Agents live in the wallets service;
 * identity keeps which department each is in (wallet.agent.*) and what they spent
 * (payment.completed) as a read model, for agent counts and spend summaries.
 */
export function createDepartmentsService(deps: { uow: UnitOfWork }) {
  const { uow } = deps;

  async function withStats(rows: DepartmentRecord[]): Promise<DepartmentWithStats[]> {
    const stats = await uow.departments.stats(rows.map((d) => d.id));
    return rows.map((d) => ({ ...d, ...stats.get(d.id)! }));
  }

  return {
    async create(principal: Principal, input: { name: string; budget_limit: number }): Promise<DepartmentWithStats> {
      const me = await requireMembership(uow, principal, { manage: true });
      return uow.transaction(async (tx) => {
        const d = await tx.departments.create({ id: randomUUID(), orgId: me.orgId, name: input.name, budgetLimit: BigInt(input.budget_limit) });
        if (!d) throw nameTaken(input.name);
        await tx.events.stage('department.created', d.id, eventData(d));
        return { ...d, agentCount: 0, totalSpend: 0n };
      });
    },

    async list(principal: Principal, page: Page) {
      const me = await requireMembership(uow, principal);
      const { departments, total } = await uow.departments.list(me.orgId, page);
      return { departments: await withStats(departments), unassigned: await uow.departments.unassigned(me.orgId), total };
    },

    async get(principal: Principal, id: string): Promise<DepartmentWithStats> {
      const me = await requireMembership(uow, principal);
      const d = await uow.departments.findInOrg(me.orgId, id);
      if (!d) throw notFound();
      return (await withStats([d]))[0];
    },

    async update(principal: Principal, id: string, patch: { name?: string; budget_limit?: number }): Promise<DepartmentWithStats> {
      const me = await requireMembership(uow, principal, { manage: true });
      const updated = await uow.transaction(async (tx) => {
        const d = await tx.departments.findInOrg(me.orgId, id);
        if (!d) throw notFound();
        if (patch.name !== undefined && patch.name !== d.name && (await tx.departments.findByName(me.orgId, patch.name))) throw nameTaken(patch.name);
        const next = await tx.departments.update(id, {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.budget_limit !== undefined ? { budgetLimit: BigInt(patch.budget_limit) } : {}),
        });
        if (!next) throw nameTaken(patch.name!);
        await tx.events.stage('department.updated', next.id, eventData(next));
        return next;
      });
      return (await withStats([updated]))[0];
    },

    /** Its agents move to "Unassigned" (spec 001): the foreign keys null their department here, wallets does the same on department.deleted. */
    async remove(principal: Principal, id: string) {
      const me = await requireMembership(uow, principal, { manage: true });
      await uow.transaction(async (tx) => {
        const d = await tx.departments.findInOrg(me.orgId, id);
        if (!d) throw notFound();
        await tx.departments.delete(d.id);
        await tx.events.stage('department.deleted', d.id, eventData(d));
      });
    },

    /**
     * Applies a wallet.agent.* event to the read model. A department id that is not one of the
     * agent's org's departments (deleted meanwhile, or another org's) counts as Unassigned.
     * Answers the facts as they were before, so the caller can tell what changed.
     */
    async applyWalletAgent(tx: Stores, kind: 'created' | 'updated' | 'deactivated', d: WalletAgentEvent, at: Date) {
      const before = await tx.departments.walletAgent(d.agent_id);
      // Ids that cannot be uuids match no department (and must not reach a uuid column).
      const dept = d.department_id && d.org_id && UUID.test(d.department_id) && UUID.test(d.org_id) ? await tx.departments.findInOrg(d.org_id, d.department_id) : null;
      const applied = await tx.departments.saveWalletAgent({
        agentId: d.agent_id,
        orgId: d.org_id,
        ownerId: d.owner_id,
        name: d.name,
        departmentId: dept?.id ?? null,
        walletAddress: d.wallet_address || null,
        active: kind !== 'deactivated',
        eventAt: at,
      });
      return { applied, before };
    },

    /** recordPayment for a batch of payments: one query for their agents, one insert for those of an org. */
    async recordPayments(tx: Stores, ps: { p: EventData<'payment.completed'>; at: Date }[]): Promise<number> {
      const ids = [...new Set(ps.flatMap(({ p }) => (p.agent_id ? [p.agent_id, p.buyer_id] : [p.buyer_id])))];
      const agents = new Map((await tx.departments.walletAgents(ids)).map((a) => [a.agentId, a]));
      const rows = ps.flatMap(({ p, at }) => {
        const agent = (p.agent_id && agents.get(p.agent_id)) || agents.get(p.buyer_id);
        if (!agent?.orgId) return [];
        return [{ paymentId: p.payment_id, agentId: agent.agentId, orgId: agent.orgId, departmentId: agent.departmentId, amountMicros: BigInt(p.amount_micros), paidAt: at }];
      });
      return tx.departments.recordPayments(rows);
    },

    /** Attributes a payment by an org's agent to the department it is in now; once per payment. */
    async recordPayment(tx: Stores, p: EventData<'payment.completed'>, at: Date) {
      const agent = (p.agent_id && (await tx.departments.walletAgent(p.agent_id))) || (await tx.departments.walletAgent(p.buyer_id));
      if (!agent?.orgId) return false;
      return tx.departments.recordPayment({
        paymentId: p.payment_id,
        agentId: agent.agentId,
        orgId: agent.orgId,
        departmentId: agent.departmentId,
        amountMicros: BigInt(p.amount_micros),
        paidAt: at,
      });
    },
  };
}
export type DepartmentsService = ReturnType<typeof createDepartmentsService>;
