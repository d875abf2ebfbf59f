import type { SqlClient } from '@platform/events';
import type { Db } from './client';
import type { Agent, Prisma } from '../generated/prisma/client';

export type AgentRow = Agent;
export interface AgentFacts {
  agentId: string;
  ownerId: string;
  displayName: string;
  status: string;
  /** The event's time: the row's creation time, and the order guard for updates. */
  at: Date;
}

export function agentsRepository(db: Db) {
  return {
    /** A replayed or late registration never overwrites what a later update wrote. */
    async registered(tx: SqlClient, a: AgentFacts): Promise<void> {
      const { at, ...fields } = a;
      await (tx as Prisma.TransactionClient).agent.upsert({ where: { agentId: a.agentId }, create: { ...fields, createdAt: at, updatedAt: at }, update: {} });
    },
    /** Applies an update unless a newer one is already in (events are ordered per agent, this is belt and braces). */
    async updated(tx: SqlClient, a: AgentFacts): Promise<void> {
      const t = tx as Prisma.TransactionClient;
      const { at, ...fields } = a;
      const n = await t.agent.updateMany({ where: { agentId: a.agentId, updatedAt: { lte: at } }, data: { ...fields, updatedAt: at } });
      if (n.count === 0) await t.agent.createMany({ data: [{ ...fields, createdAt: at, updatedAt: at }], skipDuplicates: true });
    },
    listByOwner: (ownerId: string, q: { status?: string; limit: number; offset: number }) =>
      db.agent.findMany({
        where: { ownerId, ...(q.status ? { status: q.status } : {}) },
        orderBy: [{ createdAt: 'asc' }, { agentId: 'asc' }],
        take: q.limit,
        skip: q.offset,
      }),
  };
}
export type AgentsRepository = ReturnType<typeof agentsRepository>;
