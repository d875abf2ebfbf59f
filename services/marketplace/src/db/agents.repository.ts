import type { SqlClient } from '@platform/events';
import type { Db } from './client';

export interface AgentFacts {
  agentId: string;
  ownerId: string;
  displayName: string;
  status: string;
  /** The identity event's time; a late older event never overwrites a newer one. */
  at: Date;
  /**
   * The agent's creation event: at an equal time it loses to an update (a registration and an
   * update can share a millisecond, and arrive in either order on different partitions/handlers).
   */
  creation?: boolean;
}

/** Identity's agents as its events describe them: plugins need to know owner and status. */
export function agentsRepository(db: Db) {
  return {
    async apply(tx: SqlClient, a: AgentFacts): Promise<void> {
      await tx.$executeRawUnsafe(
        `INSERT INTO "agents" ("id", "owner_id", "display_name", "status", "as_of") VALUES ($1, $2, $3, $4, $5::timestamptz)
         ON CONFLICT ("id") DO UPDATE SET
           "owner_id" = EXCLUDED."owner_id", "display_name" = EXCLUDED."display_name",
           "status" = EXCLUDED."status", "as_of" = EXCLUDED."as_of"
         WHERE "agents"."as_of" ${a.creation ? '<' : '<='} EXCLUDED."as_of"`,
        a.agentId,
        a.ownerId,
        a.displayName,
        a.status,
        a.at.toISOString(),
      );
    },
    find: (agentId: string) => db.agent.findUnique({ where: { id: agentId } }),
  };
}
export type AgentsRepository = ReturnType<typeof agentsRepository>;
