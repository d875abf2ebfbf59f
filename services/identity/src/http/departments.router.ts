import { Router } from 'express';
import { errorFamily, principalOf, validate } from '@platform/http';
import type { DepartmentsService, DepartmentWithStats } from '../domain/departments.service';
import type { DepartmentStats } from '../domain/ports';
import { CreateDepartmentBody, DepartmentParams, ListDepartmentsQuery, UpdateDepartmentBody } from './departments.schemas';
import { unixSeconds } from './format';

/** Micro-USDC amounts are bounded well below 2^53 (budget_limit ≤ 10^15), so JSON numbers stay exact. */
const micros = (v: bigint) => Number(v);

/** Spec 001 shape: {id, name, budget_limit, agent_count, created_at}. */
const renderDepartment = (d: DepartmentWithStats) => ({
  id: d.id,
  name: d.name,
  budget_limit: micros(d.budgetLimit),
  agent_count: d.agentCount,
  created_at: unixSeconds(d.createdAt),
});

/** GET adds the spend summary: micro-USDC spent while in the department, and what is left of the budget. */
const withSpend = (d: DepartmentWithStats) => ({
  ...renderDepartment(d),
  total_spend: micros(d.totalSpend),
  budget_remaining: micros(d.budgetLimit > d.totalSpend ? d.budgetLimit - d.totalSpend : 0n),
});
const renderUnassigned = (u: DepartmentStats) => ({ agent_count: u.agentCount, total_spend: micros(u.totalSpend) });

/** Spec 001 "Departments": members and viewers read; owners and admins write. Errors answer {"error"}. */
export function departmentsRouter(deps: { departments: DepartmentsService }): Router {
  const r = Router();
  r.use('/departments', errorFamily('error'));

  r.post('/departments', validate({ body: CreateDepartmentBody }), async (req, res) => {
    res.status(201).json({ department: renderDepartment(await deps.departments.create(principalOf(req), req.body)) });
  });

  r.get('/departments', validate({ query: ListDepartmentsQuery }), async (req, res) => {
    const { limit, offset } = res.locals.query as { limit: number; offset: number };
    const page = await deps.departments.list(principalOf(req), { limit, offset });
    res.json({ departments: page.departments.map(withSpend), unassigned: renderUnassigned(page.unassigned), total: page.total, limit, offset });
  });

  r.get('/departments/:id', validate({ params: DepartmentParams }), async (req, res) => {
    const { id } = res.locals.params as { id: string };
    res.json({ department: withSpend(await deps.departments.get(principalOf(req), id)) });
  });

  r.put('/departments/:id', validate({ params: DepartmentParams, body: UpdateDepartmentBody }), async (req, res) => {
    const { id } = res.locals.params as { id: string };
    res.json({ department: renderDepartment(await deps.departments.update(principalOf(req), id, req.body)) });
  });

  r.delete('/departments/:id', validate({ params: DepartmentParams }), async (req, res) => {
    const { id } = res.locals.params as { id: string };
    await deps.departments.remove(principalOf(req), id);
    res.json({ deleted: true, id });
  });
  return r;
}
