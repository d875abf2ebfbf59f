import type { AgentsRepository, AgentRow } from '../db/agents.repository';

/**
 * The agents a principal owns. Spec 004's hosted runtime (create, messages, schedules…) is
 * a later issue; until then an agent here is an identity registered with identity.
 */
export interface AgentView {
  id: string;
  display_name: string;
  owner_id: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export const toView = (a: AgentRow): AgentView => ({
  id: a.agentId,
  display_name: a.displayName,
  owner_id: a.ownerId,
  status: a.status,
  created_at: a.createdAt.toISOString(),
  updated_at: a.updatedAt.toISOString(),
});

export function createAgentDirectory(deps: { repo: AgentsRepository }) {
  return {
    async listOwned(ownerId: string, q: { status?: string; limit: number; offset: number }): Promise<AgentView[]> {
      return (await deps.repo.listByOwner(ownerId, q)).map(toView);
    },
  };
}
export type AgentDirectory = ReturnType<typeof createAgentDirectory>;
