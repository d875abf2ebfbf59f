import { Router } from 'express';
import { errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import type { AgentDirectory } from '../domain/agents.service';
import { ListAgentsQuery } from './agents.schemas';

/** Spec 004 "GET /v1/agent/list — List all your agents": only those whose owner is the caller. */
export function agentsRouter(deps: { agents: AgentDirectory }): Router {
  const r = Router();
  r.use('/v1/agent', errorFamily('detail'), requireAuth);
  r.get('/v1/agent/list', validate({ query: ListAgentsQuery }), async (req, res) => {
    const agents = await deps.agents.listOwned(principalOf(req).owner_id, res.locals.query as ListAgentsQuery);
    res.json({ agents, count: agents.length });
  });
  return r;
}
