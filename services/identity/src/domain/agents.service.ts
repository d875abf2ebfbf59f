import { randomUUID } from 'node:crypto';
import type { EventData } from '@platform/events';
import { AppError } from '@platform/http';
import type { AgentIdentity, AgentPatch, EventStager, Stores, UnitOfWork } from './ports';
import { SecretHasher, displayPrefix, newPaKey } from './key-material';
import { insertKey } from './keys.service';

/** pa_ keys carry the spec 002 default per-key rate. */
const AGENT_RATE_LIMIT = 60;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface RegisterAgentInput {
  agent_name: string;
  capabilities: string[];
  callback_url: string;
}

/** Spec 002 `POST /api/v1/agents`. */
export interface CreateIdentityInput {
  display_name: string;
  identity_type: string;
  capabilities: string[];
  wallet_address: string | null;
  metadata: Record<string, unknown>;
}

export interface UpdateIdentityInput {
  display_name?: string;
  capabilities?: string[];
  wallet_address?: string | null;
  status?: 'active' | 'suspended' | 'deactivated';
  metadata?: Record<string, unknown>;
}

const notFound = () => new AppError('NOT_FOUND', 'Agent not found');

const registered = (a: AgentIdentity) => ({ agent_id: a.id, owner_id: a.ownerId, display_name: a.displayName, status: a.status });
const updated = (a: AgentIdentity) => ({ ...registered(a), verified: a.verified });

async function stageRegistered(events: EventStager, a: AgentIdentity) {
  await events.stage('agent.registered', a.id, registered(a));
}

/**
 * Agent identities: spec 003 public registration, spec 002 CRUD, and the identities of spec 001
 * wallet agents. All are rows of one table with one id, the id the agent keeps in wallets,
 * reputation and runtime.
 */
export function createAgentsService(deps: { uow: UnitOfWork; hasher: SecretHasher }) {
  const { uow } = deps;

  /** Loads an agent for a change by its owner: 404 when unknown, 403 for another owner's agent. */
  async function ownAgent(tx: Stores, ownerId: string, id: string) {
    const agent = UUID.test(id) ? await tx.agents.get(id) : null;
    if (!agent) throw notFound();
    if (agent.ownerId !== ownerId) throw new AppError('FORBIDDEN', 'Not your agent');
    return agent;
  }

  return {
    /** Spec 003 public registration; a self-registered platform agent owns itself. */
    async register(input: RegisterAgentInput) {
      const agentId = randomUUID();
      const token = newPaKey();
      await uow.transaction(async (tx) => {
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

    /** Spec 002 `POST /api/v1/agents`: owned by the calling key's owner. */
    async create(ownerId: string, input: CreateIdentityInput): Promise<AgentIdentity> {
      return uow.transaction(async (tx) => {
        const agent = await tx.agents.insert({
          id: randomUUID(),
          ownerId,
          displayName: input.display_name,
          identityType: input.identity_type,
          capabilities: input.capabilities,
          walletAddress: input.wallet_address,
          metadata: input.metadata,
        });
        await stageRegistered(tx.events, agent);
        return agent;
      });
    },

    list: (q: { status: string; limit: number; offset: number }) => uow.agents.list(q),
    search: (q: { q: string; status: string; limit: number; offset: number }) => uow.agents.search({ text: q.q, status: q.status, limit: q.limit, offset: q.offset }),

    async get(id: string): Promise<AgentIdentity> {
      const agent = UUID.test(id) ? await uow.agents.get(id) : null;
      if (!agent) throw notFound();
      return agent;
    },

    async update(ownerId: string, id: string, input: UpdateIdentityInput): Promise<AgentIdentity> {
      return uow.transaction(async (tx) => {
        await ownAgent(tx, ownerId, id);
        const patch: AgentPatch = {
          ...(input.display_name !== undefined ? { displayName: input.display_name } : {}),
          ...(input.capabilities !== undefined ? { capabilities: input.capabilities } : {}),
          ...(input.wallet_address !== undefined ? { walletAddress: input.wallet_address } : {}),
          ...(input.status !== undefined ? { status: input.status } : {}),
          ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
        };
        const agent = await tx.agents.update(id, patch);
        await tx.events.stage('agent.updated', agent.id, updated(agent));
        return agent;
      });
    },

    /** Soft-deactivates (spec 002); its pa_ key stops verifying with it. Repeating it answers the same. */
    async deactivate(ownerId: string, id: string) {
      await uow.transaction(async (tx) => {
        const agent = await ownAgent(tx, ownerId, id);
        if (agent.status === 'deactivated') return;
        await tx.events.stage('agent.updated', agent.id, updated(await tx.agents.update(id, { status: 'deactivated' })));
      });
      return { status: 'deactivated' as const, agent_id: id.toLowerCase() };
    },

    /** Admin only (checked by the router). */
    async verify(id: string): Promise<AgentIdentity> {
      return uow.transaction(async (tx) => {
        const agent = UUID.test(id) ? await tx.agents.get(id) : null;
        if (!agent) throw notFound();
        if (agent.verified) return agent;
        const next = await tx.agents.update(id, { verified: true });
        await tx.events.stage('agent.updated', next.id, updated(next));
        return next;
      });
    },

    /**
     * "One agent id across the platform": a spec 001 wallet agent gets its spec 002 identity
     * under the same id, owned by the wallet's owner. Later wallet events keep name and address
     * in step (a rename in wallets wins over the identity's name only when wallets' name changed),
     * and deactivating the wallet deactivates the identity.
     */
    async syncWalletAgent(
      tx: Stores & { events: EventStager },
      kind: 'created' | 'updated' | 'deactivated',
      d: EventData<'wallet.agent.created'>,
      previousName: string | null,
    ) {
      if (!UUID.test(d.agent_id)) return;
      const id = d.agent_id.toLowerCase();
      const walletAddress = d.wallet_address || null;
      const inserted = await tx.agents.insertIfAbsent({
        id,
        ownerId: d.owner_id,
        displayName: d.name,
        identityType: 'api_key_only',
        capabilities: [],
        walletAddress,
        metadata: {},
      });
      if (inserted) await stageRegistered(tx.events, inserted);
      if (kind === 'created') return;
      const agent = inserted ?? (await tx.agents.get(id));
      if (!agent) return;
      const patch: AgentPatch = {};
      if (previousName !== null && previousName !== d.name && agent.displayName !== d.name) patch.displayName = d.name;
      if (walletAddress && agent.walletAddress !== walletAddress) patch.walletAddress = walletAddress;
      if (kind === 'deactivated' && agent.status !== 'deactivated') patch.status = 'deactivated';
      if (!Object.keys(patch).length) return;
      await tx.events.stage('agent.updated', id, updated(await tx.agents.update(id, patch)));
    },

    /** The agent's overall score is the reputation record with no service (spec 002 shows service_id ""). */
    async applyReputation(tx: Stores, d: EventData<'reputation.updated'>) {
      if (d.service_id !== '' || !UUID.test(d.agent_id)) return;
      await tx.agents.setReputation(d.agent_id.toLowerCase(), d.overall_score);
    },
  };
}
export type AgentsService = ReturnType<typeof createAgentsService>;
