import { Router } from 'express';
import { errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import type { Teams } from '../domain/teams.service';
import type { TeamRow, TeamWithParts, MemberRow, RuleRow, GateRow } from '../db/teams.repository';
import { AddGateBody, AddMemberBody, AddRuleBody, CreateTeamBody, ListTeamsQuery, RouteBody, UpdateTeamBody } from './teams.schemas';
import { isoOffset, uuidParam } from './render';

const teamId = (raw: string | string[] | undefined) => uuidParam(raw, 'Team');

export const renderTeamSummary = (t: TeamRow) => ({
  id: t.id,
  name: t.name,
  owner_id: t.ownerId,
  description: t.description,
  config: t.config,
  status: t.status,
  created_at: isoOffset(t.createdAt),
  updated_at: isoOffset(t.updatedAt),
});

/** Spec 002 "Get Team" shows the parts in short form; their own lists show every field. */
export const renderTeam = (t: TeamWithParts) => ({
  ...renderTeamSummary(t),
  members: t.members.map((m) => ({ id: m.id, agent_id: m.agentId, role: m.role, skills: m.skills })),
  routing_rules: t.rules.map((r) => ({ id: r.id, name: r.name, keywords: r.keywords, target_agent_id: r.targetAgentId, priority: r.priority })),
  quality_gates: t.gates.map((g) => ({ id: g.id, gate_type: g.gateType, threshold: g.threshold, gate_order: g.gateOrder })),
});

const renderMember = (m: MemberRow) => ({ id: m.id, team_id: m.teamId, agent_id: m.agentId, role: m.role, skills: m.skills, joined_at: isoOffset(m.joinedAt) });
const renderRule = (r: RuleRow) => ({ id: r.id, name: r.name, keywords: r.keywords, target_agent_id: r.targetAgentId, priority: r.priority, enabled: r.enabled });
const renderGate = (g: GateRow) => ({ id: g.id, gate_type: g.gateType, threshold: g.threshold, gate_order: g.gateOrder, config: g.config, enabled: g.enabled });

/** Spec 002 "Team Management". Reads are public; changes are the owner's. */
export function teamsRouter(deps: { teams: Teams }): Router {
  const { teams } = deps;
  const r = Router();
  r.use('/api/v1/teams', errorFamily('detail'));

  r.post('/api/v1/teams', requireAuth, validate({ body: CreateTeamBody }), async (req, res) => {
    const b = req.body as CreateTeamBody;
    const t = await teams.create(principalOf(req), { name: b.name, description: b.description, config: b.config });
    res.status(201).json({ id: t.id, name: t.name, owner_id: t.ownerId });
  });

  r.get('/api/v1/teams', validate({ query: ListTeamsQuery }), async (req, res) => {
    const q = res.locals.query as ListTeamsQuery;
    const list = await teams.list(req.principal, q);
    res.json({ teams: list.map(renderTeamSummary), count: list.length, offset: q.offset, limit: q.limit });
  });

  r.get('/api/v1/teams/:team_id', async (req, res) => {
    res.json(renderTeam(await teams.get(teamId(req.params.team_id))));
  });

  r.patch('/api/v1/teams/:team_id', requireAuth, validate({ body: UpdateTeamBody }), async (req, res) => {
    const b = req.body as UpdateTeamBody;
    res.json(renderTeam(await teams.update(principalOf(req), teamId(req.params.team_id), b)));
  });

  r.delete('/api/v1/teams/:team_id', requireAuth, async (req, res) => {
    const t = await teams.archive(principalOf(req), teamId(req.params.team_id));
    res.json({ status: 'archived', id: t.id });
  });

  r.post('/api/v1/teams/:team_id/members', requireAuth, validate({ body: AddMemberBody }), async (req, res) => {
    const b = req.body as AddMemberBody;
    const m = await teams.addMember(principalOf(req), teamId(req.params.team_id), { agentId: b.agent_id, role: b.role, skills: b.skills });
    res.status(201).json({ id: m.id, team_id: m.teamId, agent_id: m.agentId });
  });

  r.get('/api/v1/teams/:team_id/members', async (req, res) => {
    const members = (await teams.members(teamId(req.params.team_id))).map(renderMember);
    res.json({ members, count: members.length });
  });

  r.delete('/api/v1/teams/:team_id/members/:agent_id', requireAuth, async (req, res) => {
    await teams.removeMember(principalOf(req), teamId(req.params.team_id), String(req.params.agent_id));
    res.json({ status: 'removed' });
  });

  r.post('/api/v1/teams/:team_id/rules', requireAuth, validate({ body: AddRuleBody }), async (req, res) => {
    const b = req.body as AddRuleBody;
    const rule = await teams.addRule(principalOf(req), teamId(req.params.team_id), {
      name: b.name,
      keywords: [...new Set(b.keywords)],
      targetAgentId: b.target_agent_id,
      priority: b.priority,
      enabled: b.enabled,
    });
    res.status(201).json({ id: rule.id, name: rule.name });
  });

  r.get('/api/v1/teams/:team_id/rules', async (req, res) => {
    const rules = (await teams.rules(teamId(req.params.team_id))).map(renderRule);
    res.json({ rules, count: rules.length });
  });

  r.delete('/api/v1/teams/:team_id/rules/:rule_id', requireAuth, async (req, res) => {
    const id = teamId(req.params.team_id);
    const ruleId = uuidParam(req.params.rule_id, 'Routing rule');
    await teams.removeRule(principalOf(req), id, ruleId);
    res.json({ status: 'deleted', id: ruleId });
  });

  r.post('/api/v1/teams/:team_id/gates', requireAuth, validate({ body: AddGateBody }), async (req, res) => {
    const b = req.body as AddGateBody;
    const g = await teams.addGate(principalOf(req), teamId(req.params.team_id), {
      gateType: b.gate_type,
      threshold: b.threshold,
      gateOrder: b.gate_order,
      config: b.config,
      enabled: b.enabled,
    });
    res.status(201).json({ id: g.id, gate_type: g.gateType });
  });

  r.get('/api/v1/teams/:team_id/gates', async (req, res) => {
    const gates = (await teams.gates(teamId(req.params.team_id))).map(renderGate);
    res.json({ gates, count: gates.length });
  });

  r.delete('/api/v1/teams/:team_id/gates/:gate_id', requireAuth, async (req, res) => {
    const id = teamId(req.params.team_id);
    const gateId = uuidParam(req.params.gate_id, 'Quality gate');
    await teams.removeGate(principalOf(req), id, gateId);
    res.json({ status: 'deleted', id: gateId });
  });

  /** Not in spec 002's table: the routing decision its rules describe, for a given task text. */
  r.post('/api/v1/teams/:team_id/route', validate({ body: RouteBody }), async (req, res) => {
    const id = teamId(req.params.team_id);
    const d = await teams.route(id, (req.body as RouteBody).task);
    res.json({
      team_id: id,
      agent_id: d.agentId,
      matched_by: d.matchedBy,
      rule: d.rule,
      matched_keywords: d.matched,
    });
  });

  return r;
}
