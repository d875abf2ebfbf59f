import { Router } from 'express';
import { errorFamily, validate } from '@platform/http';
import type { AgentsService } from '../domain/agents.service';
import { RegisterAgentBody } from './agents.schemas';

/** Spec 003 "Register a Platform Agent" (no authentication). */
export function agentsRouter(deps: { agents: AgentsService }): Router {
  const r = Router();
  r.use('/api/v1/public/agents', errorFamily('detail'));
  r.post('/api/v1/public/agents/register', validate({ body: RegisterAgentBody }), async (req, res) => {
    res.json(await deps.agents.register(req.body));
  });
  return r;
}
