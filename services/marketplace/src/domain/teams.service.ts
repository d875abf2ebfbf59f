import { randomUUID } from 'node:crypto';
import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { TeamsRepository, TeamRow, TeamWithParts, Tx } from '../db/teams.repository';
import type { TeamPublishers } from '../events/publishers';
import { routeTask, RoutingDecision } from './team-routing';

/** Bounds that keep a team's lists (returned whole, unpaged) small. */
export const TEAM_LIMITS = { members: 100, rules: 100, gates: 20 } as const;

export type MemberRole = 'leader' | 'worker' | 'reviewer' | 'router';
export type GateType = 'quality_score' | 'latency' | 'error_rate' | 'coverage' | 'custom';
/** A JSON object as the request carried it (zod-checked at the edge). */
export type JsonObject = Record<string, unknown>;

const isAdmin = (p: Principal) => p.roles.includes('admin');
const teamNotFound = () => new AppError('NOT_FOUND', 'Team not found');

/**
 * Teams (spec 002 "Team Management"). Reads are public; every change is the owner's (an
 * admin may act for any owner) and applies to an active team only: an archived team is
 * kept for its history and answers 409 to changes.
 */
export function createTeams(deps: { repo: TeamsRepository; events: TeamPublishers }) {
  const { repo, events } = deps;

  async function ownedForChange(tx: Tx, principal: Principal, id: string): Promise<TeamRow> {
    const t = await repo.lock(tx, id);
    if (!t) throw teamNotFound();
    if (t.ownerId !== principal.owner_id && !isAdmin(principal)) throw new AppError('FORBIDDEN', 'Not your team');
    if (t.status !== 'active') throw new AppError('CONFLICT', 'Team is archived; an archived team cannot change');
    return t;
  }

  async function existing(id: string): Promise<TeamRow> {
    const t = await repo.find(id);
    if (!t) throw teamNotFound();
    return t;
  }

  async function get(id: string): Promise<TeamWithParts> {
    const t = await repo.findWithParts(id);
    if (!t) throw teamNotFound();
    return t;
  }

  return {
    create(principal: Principal, input: { name: string; description: string; config: JsonObject }): Promise<TeamRow> {
      return repo.transaction(async (tx) => {
        const t = await repo.create(tx, { id: randomUUID(), ownerId: principal.owner_id, ...input });
        await events.created(tx, t);
        return t;
      });
    },

    get,

    /** Active teams the caller owns; nobody signed in owns none (spec 002). */
    list: (principal: Principal | undefined, q: { limit: number; offset: number }) => (principal ? repo.listByOwner(principal.owner_id, q) : Promise.resolve([])),

    async update(principal: Principal, id: string, changes: { name?: string; description?: string; config?: JsonObject }): Promise<TeamWithParts> {
      await repo.transaction(async (tx) => {
        await ownedForChange(tx, principal, id);
        await repo.update(tx, id, changes);
      });
      return get(id);
    },

    /** Soft delete; archiving an archived team changes nothing and answers the same. */
    archive(principal: Principal, id: string): Promise<TeamRow> {
      return repo.transaction(async (tx) => {
        const t = await repo.lock(tx, id);
        if (!t) throw teamNotFound();
        if (t.ownerId !== principal.owner_id && !isAdmin(principal)) throw new AppError('FORBIDDEN', 'Not your team');
        if (t.status === 'archived') return t;
        const archived = await repo.update(tx, id, { status: 'archived' });
        await events.archived(tx, archived);
        return archived;
      });
    },

    addMember(principal: Principal, id: string, m: { agentId: string; role: MemberRole; skills: string[] }) {
      return repo.transaction(async (tx) => {
        await ownedForChange(tx, principal, id);
        if (await repo.findMember(tx, id, m.agentId)) throw new AppError('CONFLICT', `Agent ${m.agentId} is already a member of this team`);
        if ((await repo.countMembers(tx, id)) >= TEAM_LIMITS.members) throw new AppError('CONFLICT', `A team has at most ${TEAM_LIMITS.members} members`);
        return repo.addMember(tx, { id: randomUUID(), teamId: id, ...m });
      });
    },

    async members(id: string) {
      await existing(id);
      return repo.members(id);
    },

    removeMember(principal: Principal, id: string, agentId: string): Promise<void> {
      return repo.transaction(async (tx) => {
        await ownedForChange(tx, principal, id);
        if ((await repo.removeMember(tx, id, agentId)).count === 0) throw new AppError('NOT_FOUND', 'Member not found');
      });
    },

    addRule(principal: Principal, id: string, r: { name: string; keywords: string[]; targetAgentId: string; priority: number; enabled: boolean }) {
      return repo.transaction(async (tx) => {
        await ownedForChange(tx, principal, id);
        if ((await repo.countRules(tx, id)) >= TEAM_LIMITS.rules) throw new AppError('CONFLICT', `A team has at most ${TEAM_LIMITS.rules} routing rules`);
        return repo.addRule(tx, { id: randomUUID(), teamId: id, ...r });
      });
    },

    async rules(id: string) {
      await existing(id);
      return repo.rules(id);
    },

    removeRule(principal: Principal, id: string, ruleId: string): Promise<void> {
      return repo.transaction(async (tx) => {
        await ownedForChange(tx, principal, id);
        if ((await repo.removeRule(tx, id, ruleId)).count === 0) throw new AppError('NOT_FOUND', 'Routing rule not found');
      });
    },

    addGate(principal: Principal, id: string, g: { gateType: GateType; threshold: number; gateOrder: number; config: JsonObject; enabled: boolean }) {
      return repo.transaction(async (tx) => {
        await ownedForChange(tx, principal, id);
        if ((await repo.countGates(tx, id)) >= TEAM_LIMITS.gates) throw new AppError('CONFLICT', `A team has at most ${TEAM_LIMITS.gates} quality gates`);
        return repo.addGate(tx, { id: randomUUID(), teamId: id, ...g });
      });
    },

    async gates(id: string) {
      await existing(id);
      return repo.gates(id);
    },

    removeGate(principal: Principal, id: string, gateId: string): Promise<void> {
      return repo.transaction(async (tx) => {
        await ownedForChange(tx, principal, id);
        if ((await repo.removeGate(tx, id, gateId)).count === 0) throw new AppError('NOT_FOUND', 'Quality gate not found');
      });
    },

    /** The routing decision for a task (see routeTask); public, like the rules it applies. */
    async route(id: string, task: string): Promise<RoutingDecision> {
      const t = await repo.findWithParts(id);
      if (!t) throw teamNotFound();
      if (t.status !== 'active') throw new AppError('CONFLICT', 'Team is archived; it routes no tasks');
      return routeTask(task, t.rules, t.members);
    },
  };
}
export type Teams = ReturnType<typeof createTeams>;
