import { Router } from 'express';
import { errorFamily, principalOf, requireAuth, requireRole, validate } from '@platform/http';
import type { AgentsService } from '../domain/agents.service';
import type { AgentIdentity } from '../domain/ports';
import { AgentParams, CreateAgentBody, ListAgentsQuery, RegisterAgentBody, SearchAgentsQuery, UpdateAgentBody } from './agents.schemas';
import { isoOffset } from './format';

/**
 * The spec 002 agent object. `metadata` is not in the spec's example response, but the agent
 * carries it (register and PATCH set it), so reads return it. Public reads leave owner_id out
 * ("same shape as register response, without owner_id").
 */
function renderAgent(a: AgentIdentity, opts: { owner: boolean }) {
  return {
    agent_id: a.id,
    display_name: a.displayName,
    identity_type: a.identityType,
    capabilities: a.capabilities,
    wallet_address: a.walletAddress,
    metadata: a.metadata,
    verified: a.verified,
    reputation_score: a.reputationScore,
    status: a.status,
    ...(opts.owner ? { owner_id: a.ownerId } : {}),
    created_at: isoOffset(a.createdAt),
    updated_at: isoOffset(a.updatedAt),
  };
}
const publicView = (a: AgentIdentity) => renderAgent(a, { owner: false });
const ownerView = (a: AgentIdentity) => renderAgent(a, { owner: true });

/** Spec 003 "Register a Platform Agent" (no authentication) and spec 002 "Agent Identity". */
export function agentsRouter(deps: { agents: AgentsService }): Router {
  const r = Router();
  r.use(['/api/v1/public/agents', '/api/v1/agents'], errorFamily('detail'));
  r.post('/api/v1/public/agents/register', validate({ body: RegisterAgentBody }), async (req, res) => {
    res.json(await deps.agents.register(req.body));
  });

  r.post('/api/v1/agents', requireAuth, validate({ body: CreateAgentBody }), async (req, res) => {
    res.status(201).json(ownerView(await deps.agents.create(principalOf(req).owner_id, req.body)));
  });

  r.get('/api/v1/agents', validate({ query: ListAgentsQuery }), async (_req, res) => {
    const agents = await deps.agents.list(res.locals.query);
    res.json({ agents: agents.map(publicView), count: agents.length });
  });

  r.get('/api/v1/agents/search', validate({ query: SearchAgentsQuery }), async (_req, res) => {
    const agents = await deps.agents.search(res.locals.query);
    res.json({ agents: agents.map(publicView), count: agents.length });
  });

  r.get('/api/v1/agents/:agent_id', validate({ params: AgentParams }), async (_req, res) => {
    res.json(publicView(await deps.agents.get(res.locals.params.agent_id)));
  });

  r.patch('/api/v1/agents/:agent_id', requireAuth, validate({ params: AgentParams, body: UpdateAgentBody }), async (req, res) => {
    res.json(ownerView(await deps.agents.update(principalOf(req).owner_id, res.locals.params.agent_id, req.body)));
  });

  r.delete('/api/v1/agents/:agent_id', requireAuth, validate({ params: AgentParams }), async (req, res) => {
    res.json(await deps.agents.deactivate(principalOf(req).owner_id, res.locals.params.agent_id));
  });

  r.post('/api/v1/agents/:agent_id/verify', requireRole('admin'), validate({ params: AgentParams }), async (_req, res) => {
    res.json(ownerView(await deps.agents.verify(res.locals.params.agent_id)));
  });
  return r;
}
