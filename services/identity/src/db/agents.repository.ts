import type { Client } from './keys.repository';
import type { Agent, Prisma } from '../generated/prisma/client';
import type { AgentIdentity, AgentStore } from '../domain/ports';

const summary = { id: true, ownerId: true, displayName: true, status: true, verified: true } as const;

const toIdentity = (a: Agent): AgentIdentity => ({
  id: a.id,
  ownerId: a.ownerId,
  displayName: a.displayName,
  identityType: a.identityType,
  capabilities: a.capabilities,
  walletAddress: a.walletAddress,
  metadata: (a.metadata ?? {}) as Record<string, unknown>,
  verified: a.verified,
  reputationScore: a.reputationScore,
  status: a.status,
  createdAt: a.createdAt,
  updatedAt: a.updatedAt,
});

/** LIKE treats % and _ as wildcards; a search for "100%" must match those characters literally. */
const likeLiteral = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const newestFirst: Prisma.AgentOrderByWithRelationInput[] = [{ createdAt: 'desc' }, { id: 'asc' }];

export function agentsRepository(db: Client): AgentStore {
  return {
    create: (a) => db.agent.create({ data: a, select: summary }),
    findById: (id) => db.agent.findUnique({ where: { id }, select: summary }),
    insert: async (a) => toIdentity(await db.agent.create({ data: { ...a, metadata: a.metadata as Prisma.InputJsonObject } })),
    async insertIfAbsent(a) {
      const { count } = await db.agent.createMany({ data: [{ ...a, metadata: a.metadata as Prisma.InputJsonObject }], skipDuplicates: true });
      return count === 1 ? toIdentity(await db.agent.findUniqueOrThrow({ where: { id: a.id } })) : null;
    },
    async get(id) {
      const a = await db.agent.findUnique({ where: { id } });
      return a && toIdentity(a);
    },
    async list(q) {
      const rows = await db.agent.findMany({ where: { status: q.status }, orderBy: newestFirst, take: q.limit, skip: q.offset });
      return rows.map(toIdentity);
    },
    async search(q) {
      const text = q.text.trim();
      const or: Prisma.AgentWhereInput[] = [
        { displayName: { contains: likeLiteral(text), mode: 'insensitive' } },
        { capabilities: { has: text.toLowerCase() } },
      ];
      if (UUID.test(text)) or.push({ id: text.toLowerCase() });
      const rows = await db.agent.findMany({
        where: { status: q.status, ...(text ? { OR: or } : {}) },
        orderBy: [{ verified: 'desc' }, { reputationScore: 'desc' }, ...newestFirst],
        take: q.limit,
        skip: q.offset,
      });
      return rows.map(toIdentity);
    },
    async update(id, patch) {
      const { metadata, ...rest } = patch;
      const data: Prisma.AgentUpdateInput = { ...rest, ...(metadata ? { metadata: metadata as Prisma.InputJsonObject } : {}) };
      return toIdentity(await db.agent.update({ where: { id }, data }));
    },
    async setReputation(id, score) {
      await db.agent.updateMany({ where: { id }, data: { reputationScore: score } });
    },
  };
}
