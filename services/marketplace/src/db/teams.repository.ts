import type { Db } from './client';
import type { Prisma, Team, TeamMember, TeamQualityGate, TeamRoutingRule } from '../generated/prisma/client';

export type TeamRow = Team;
export type MemberRow = TeamMember;
export type RuleRow = TeamRoutingRule;
export type GateRow = TeamQualityGate;
export type TeamWithParts = Team & { members: MemberRow[]; rules: RuleRow[]; gates: GateRow[] };
export type Tx = Prisma.TransactionClient;
/** A JSON object from a validated request body. */
type JsonObject = Record<string, unknown>;
const json = (o: JsonObject) => o as Prisma.InputJsonObject;

/** Spec 002 orders: rules by priority (highest first), gates by gate_order (lowest first). */
const memberOrder: Prisma.TeamMemberOrderByWithRelationInput[] = [{ joinedAt: 'asc' }, { id: 'asc' }];
const ruleOrder: Prisma.TeamRoutingRuleOrderByWithRelationInput[] = [{ priority: 'desc' }, { createdAt: 'asc' }, { id: 'asc' }];
const gateOrder: Prisma.TeamQualityGateOrderByWithRelationInput[] = [{ gateOrder: 'asc' }, { createdAt: 'asc' }, { id: 'asc' }];

export function teamsRepository(db: Db) {
  return {
    transaction: <T>(fn: (tx: Tx) => Promise<T>) => db.$transaction(fn),
    create: (tx: Tx, row: { id: string; ownerId: string; name: string; description: string; config: JsonObject }) =>
      tx.team.create({ data: { ...row, config: json(row.config), status: 'active' } }),
    find: (id: string) => db.team.findUnique({ where: { id } }),
    findWithParts: (id: string): Promise<TeamWithParts | null> =>
      db.team.findUnique({
        where: { id },
        include: { members: { orderBy: memberOrder }, rules: { orderBy: ruleOrder }, gates: { orderBy: gateOrder } },
      }),
    /** Row lock: changes to one team (and the caps on its parts) apply one at a time. */
    async lock(tx: Tx, id: string): Promise<TeamRow | null> {
      await tx.$queryRawUnsafe('SELECT 1 FROM "teams" WHERE "id" = $1::uuid FOR UPDATE', id);
      return tx.team.findUnique({ where: { id } });
    },
    update: (tx: Tx, id: string, data: { name?: string; description?: string; config?: JsonObject; status?: string }) =>
      tx.team.update({ where: { id }, data: { ...data, config: data.config === undefined ? undefined : json(data.config) } }),
    listByOwner: (ownerId: string, q: { limit: number; offset: number }) =>
      db.team.findMany({ where: { ownerId, status: 'active' }, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], take: q.limit, skip: q.offset }),

    members: (teamId: string) => db.teamMember.findMany({ where: { teamId }, orderBy: memberOrder }),
    countMembers: (tx: Tx, teamId: string) => tx.teamMember.count({ where: { teamId } }),
    findMember: (tx: Tx, teamId: string, agentId: string) => tx.teamMember.findUnique({ where: { teamId_agentId: { teamId, agentId } } }),
    addMember: (tx: Tx, row: { id: string; teamId: string; agentId: string; role: string; skills: string[] }) => tx.teamMember.create({ data: row }),
    removeMember: (tx: Tx, teamId: string, agentId: string) => tx.teamMember.deleteMany({ where: { teamId, agentId } }),

    rules: (teamId: string) => db.teamRoutingRule.findMany({ where: { teamId }, orderBy: ruleOrder }),
    countRules: (tx: Tx, teamId: string) => tx.teamRoutingRule.count({ where: { teamId } }),
    addRule: (tx: Tx, row: { id: string; teamId: string; name: string; keywords: string[]; targetAgentId: string; priority: number; enabled: boolean }) =>
      tx.teamRoutingRule.create({ data: row }),
    removeRule: (tx: Tx, teamId: string, id: string) => tx.teamRoutingRule.deleteMany({ where: { teamId, id } }),

    gates: (teamId: string) => db.teamQualityGate.findMany({ where: { teamId }, orderBy: gateOrder }),
    countGates: (tx: Tx, teamId: string) => tx.teamQualityGate.count({ where: { teamId } }),
    addGate: (tx: Tx, row: { id: string; teamId: string; gateType: string; threshold: number; gateOrder: number; config: JsonObject; enabled: boolean }) =>
      tx.teamQualityGate.create({ data: { ...row, config: json(row.config) } }),
    removeGate: (tx: Tx, teamId: string, id: string) => tx.teamQualityGate.deleteMany({ where: { teamId, id } }),
  };
}
export type TeamsRepository = ReturnType<typeof teamsRepository>;
