import { randomUUID } from 'node:crypto';
import type { UnitOfWork } from './ports';
import { SecretHasher, displayPrefix, newPaKey } from './key-material';
import { insertKey } from './keys.service';

/** pa_ keys carry the spec 002 default per-key rate. */
const AGENT_RATE_LIMIT = 60;

export interface RegisterAgentInput {
  agent_name: string;
  capabilities: string[];
  callback_url: string;
}

/**
 * Spec 003 public registration. The row is the platform's agent identity too (spec 002
 * agents CRUD reads the same table later); a self-registered agent owns itself.
 */
export function createAgentsService(deps: { uow: UnitOfWork; hasher: SecretHasher }) {
  return {
    async register(input: RegisterAgentInput) {
      const agentId = randomUUID();
      const token = newPaKey();
      await deps.uow.transaction(async (tx) => {
        const agent = await tx.agents.create({
          id: agentId,
          ownerId: agentId,
          displayName: input.agent_name,
          capabilities: input.capabilities,
          callbackUrl: input.callback_url,
        });
        await insertKey(tx, {
          id: randomUUID(),
          family: 'pa',
          secretHash: deps.hasher.hash(token),
          prefix: displayPrefix(token),
          ownerId: agent.id,
          role: 'agent',
          rateLimit: AGENT_RATE_LIMIT,
          walletAddress: null,
          name: null,
          orgId: null,
          envId: null,
          agentId: agent.id,
        });
        await tx.events.stage('agent.registered', agent.id, {
          agent_id: agent.id,
          owner_id: agent.ownerId,
          display_name: agent.displayName,
          status: agent.status,
        });
      });
      return { agent_id: agentId, api_key: token };
    },
  };
}
export type AgentsService = ReturnType<typeof createAgentsService>;
