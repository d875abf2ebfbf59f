import { Router, Request } from 'express';
import { errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import { callerOf, requireLevel } from '../domain/access';
import type { AgentService } from '../domain/agents.service';
import type { FundingService } from '../domain/funding.service';
import type { AgentsRepository } from '../db/agents.repository';
import { AgentParams, CreateAgentBody, DrainBody, FundBody, OnrampBody, PageQuery, PolicyBody, UpdateAgentBody } from './agents.schemas';
import { agentJson, policyJson, transactionJson } from './agent-format';

const caller = (req: Request) => callerOf(principalOf(req));
const idOf = (res: { locals: Record<string, unknown> }) => (res.locals.params as { id: string }).id;

/** Spec 001 agent wallets, funding and draining, transactions and balance; errors as {"error": …}. */
export function agentsRouter(deps: { agents: AgentService; funding: FundingService; repo: AgentsRepository }): Router {
  const r = Router();
  r.use(['/agents', '/transactions', '/balance'], errorFamily('error'), requireAuth);

  r.get('/agents', validate({ query: PageQuery }), async (req, res) => {
    const page = res.locals.query as PageQuery;
    const out = await deps.agents.list(caller(req), page);
    res.json({ agents: out.agents.map((a) => agentJson(a.agent, a.usdcBalance)), total: out.total, limit: page.limit, offset: page.offset });
  });

  r.post('/agents', validate({ body: CreateAgentBody }), async (req, res) => {
    const b = req.body as CreateAgentBody;
    const a = await deps.agents.create(caller(req), { name: b.name, spendingCap: b.spending_cap ?? null });
    res.status(201).json({ id: a.id, name: a.name, wallet_address: a.walletAddress });
  });

  r.get('/agents/:id', validate({ params: AgentParams }), async (req, res) => {
    const a = await deps.agents.get(caller(req), idOf(res));
    res.json(agentJson(a.agent, a.usdcBalance));
  });

  r.put('/agents/:id', validate({ params: AgentParams, body: UpdateAgentBody }), async (req, res) => {
    const b = req.body as UpdateAgentBody;
    const a = await deps.agents.update(caller(req), idOf(res), {
      name: b.name,
      spendingCap: b.spending_cap,
      autoTopupThreshold: b.auto_topup_threshold,
      autoTopupAmount: b.auto_topup_amount,
      autoTopupSource: b.auto_topup_source,
      departmentId: b.department_id,
    });
    res.json(agentJson(a.agent, a.usdcBalance));
  });

  r.delete('/agents/:id', validate({ params: AgentParams }), async (req, res) => {
    const out = await deps.agents.deactivate(caller(req), idOf(res));
    res.json({ id: out.agent.id, active: out.agent.active, drained: out.drain.drained, amount: out.drain.amount.toString(), tx_hash: out.drain.txHash, to_address: out.drain.toAddress });
  });

  r.get('/agents/:id/policy', validate({ params: AgentParams }), async (req, res) => {
    res.json({ policy: policyJson(await deps.agents.policy(caller(req), idOf(res))) });
  });

  r.put('/agents/:id/policy', validate({ params: AgentParams, body: PolicyBody }), async (req, res) => {
    const b = req.body as PolicyBody;
    const a = await deps.agents.updatePolicy(caller(req), idOf(res), {
      spendingCap: b.spending_cap,
      dailyLimit: b.daily_limit,
      monthlyLimit: b.monthly_limit,
      perCallMax: b.per_call_max,
      allowedServices: b.allowed_services,
      blockedServices: b.blocked_services,
      requireSession: b.require_session,
    });
    res.json({ policy: policyJson(a) });
  });

  r.post('/agents/:id/key', validate({ params: AgentParams }), async (req, res) => {
    const out = await deps.agents.exportKey(caller(req), idOf(res), 'key_export', req.requestId ?? null);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ private_key: out.privateKey });
  });

  r.get('/agents/:id/env', validate({ params: AgentParams }), async (req, res) => {
    const out = await deps.agents.exportKey(caller(req), idOf(res), 'env_export', req.requestId ?? null);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ INDIEGENT_AGENT_KEY: out.privateKey, INDIEGENT_AGENT_ADDRESS: out.agent.walletAddress });
  });

  r.post('/agents/:id/fund', validate({ params: AgentParams, body: FundBody }), async (req, res) => {
    const c = caller(req);
    const b = req.body as FundBody;
    const agent = await deps.agents.find(c, idOf(res));
    const out = await deps.funding.fund(c, agent, { txHash: b.tx_hash, amount: b.amount ?? null });
    res.json({ funded: true, amount: out.amount.toString(), gas_sponsored: out.gasSponsored, gas_tx_hash: out.gasTxHash });
  });

  r.post('/agents/:id/drain', validate({ params: AgentParams, body: DrainBody }), async (req, res) => {
    const c = caller(req);
    const agent = await deps.agents.find(c, idOf(res));
    const out = await deps.funding.drain(c, agent, (req.body as DrainBody).to_address ?? null);
    res.json({ drained: out.drained, amount: out.amount.toString(), tx_hash: out.txHash, to_address: out.toAddress });
  });

  r.get('/agents/:id/transactions', validate({ params: AgentParams, query: PageQuery }), async (req, res) => {
    const c = caller(req);
    const agent = await deps.agents.find(c, idOf(res));
    const page = res.locals.query as PageQuery;
    const out = await deps.repo.transactions({ accountId: c.accountId, agentId: agent.id }, page);
    res.json({ transactions: out.transactions.map(transactionJson), total: out.total, limit: page.limit, offset: page.offset });
  });

  r.post('/agents/:id/onramp', validate({ params: AgentParams, body: OnrampBody }), async (req, res) => {
    const out = await deps.agents.onramp(caller(req), idOf(res), (req.body as { amount?: string }).amount ?? null);
    res.json({ sessionId: out.sessionId, onrampUrl: out.url });
  });

  r.get('/transactions', validate({ query: PageQuery }), async (req, res) => {
    const c = caller(req);
    requireLevel(c, 'read', 'list transactions');
    const page = res.locals.query as PageQuery;
    const out = await deps.repo.transactions({ accountId: c.accountId }, page);
    res.json({ transactions: out.transactions.map(transactionJson), total: out.total, limit: page.limit, offset: page.offset });
  });

  r.get('/balance', async (req, res) => {
    const b = await deps.agents.balance(caller(req));
    res.json({
      total_usdc: b.total.toString(),
      total_agents: b.totalAgents,
      active_agents: b.activeAgents,
      agents: b.agents.map((a) => ({ id: a.agent.id, name: a.agent.name, usdc_balance: a.usdcBalance.toString(), active: a.agent.active })),
    });
  });
  return r;
}
