import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import type { ChainClient } from '../chain/chain.client';
import { newKeypair } from '../chain/chain.client';
import type { AgentPatch, AgentRecord, AgentsRepository, PolicyPatch } from '../db/agents.repository';
import type { LedgerRepository } from '../db/ledger.repository';
import type { AgentWalletEvents } from '../events/publishers';
import type { Caller } from './access';
import { requireLevel } from './access';
import { onChain } from './chain-call';
import type { KeyVault } from './key-vault';
import type { OnrampClient } from '../clients/onramp.client';

export interface AgentWalletDeps {
  agents: AgentsRepository;
  ledger: LedgerRepository;
  events: AgentWalletEvents;
  chain: ChainClient;
  vault: KeyVault;
  clock?: () => Date;
  logger?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface AgentWithBalance {
  agent: AgentRecord;
  usdcBalance: bigint;
}

/** The most agents GET /balance sums (one JSON-RPC batch per 100). */
export const BALANCE_AGENT_LIMIT = 1_000;

export const agentEventData = (a: AgentRecord) => ({
  agent_id: a.id,
  org_id: a.orgId,
  owner_id: a.ownerId,
  name: a.name,
  department_id: a.departmentId,
  wallet_address: a.walletAddress,
});

/** Spec 001 agent wallets: keypairs, configuration, policy, key export, on-ramp. */
export function agentService(deps: AgentWalletDeps & { onramp: OnrampClient | null; drainOnDeactivate: (caller: Caller, agent: AgentRecord) => Promise<DrainOutcome> }) {
  const { agents, ledger, events, chain, vault } = deps;

  async function mustFind(caller: Caller, id: string): Promise<AgentRecord> {
    const a = await agents.find(id, caller.accountId);
    if (!a) throw new AppError('NOT_FOUND', 'Agent wallet not found');
    return a;
  }

  const withBalances = async (list: AgentRecord[]): Promise<AgentWithBalance[]> => {
    const balances: bigint[] = [];
    for (let i = 0; i < list.length; i += 100) {
      balances.push(...(await onChain('read balances', () => chain.usdcBalances(list.slice(i, i + 100).map((a) => a.walletAddress)))));
    }
    return list.map((agent, i) => ({ agent, usdcBalance: balances[i] }));
  };

  return {
    find: mustFind,

    /** Generates the keypair with ethers and stores the private key only encrypted. */
    async create(caller: Caller, input: { name: string; spendingCap: bigint | null }): Promise<AgentRecord> {
      requireLevel(caller, 'operate', 'create agent wallets');
      const id = randomUUID();
      const kp = newKeypair();
      return ledger.transaction(async (tx) => {
        const agent = await agents.create(
          { id, accountId: caller.accountId, orgId: caller.orgId, ownerId: caller.actorId, name: input.name, walletAddress: kp.address, encryptedKey: vault.encrypt(id, kp.privateKey), spendingCap: input.spendingCap },
          tx,
        );
        await events.agentCreated(tx, agentEventData(agent));
        return agent;
      });
    },

    async list(caller: Caller, page: { limit: number; offset: number }): Promise<{ agents: AgentWithBalance[]; total: number }> {
      const r = await agents.list(caller.accountId, page);
      return { agents: await withBalances(r.agents), total: r.total };
    },

    async get(caller: Caller, id: string): Promise<AgentWithBalance> {
      return (await withBalances([await mustFind(caller, id)]))[0];
    },

    /** Spec 001 PUT /agents/:id. Raising or lowering the spending cap is a policy change (admins). */
    async update(caller: Caller, id: string, patch: AgentPatch): Promise<AgentWithBalance> {
      const current = await mustFind(caller, id);
      requireLevel(caller, 'operate', 'change agent wallets');
      if (patch.spendingCap !== undefined) requireLevel(caller, 'manage', 'change the spending cap');
      if (patch.autoTopupSource && patch.autoTopupSource.toLowerCase() === current.walletAddress.toLowerCase()) {
        throw new AppError('BAD_REQUEST', 'auto_topup_source must be another wallet than the agent itself');
      }
      const updated = await ledger.transaction(async (tx) => {
        const a = await agents.update(id, patch, tx);
        await events.agentUpdated(tx, agentEventData(a));
        return a;
      });
      return (await withBalances([updated]))[0];
    },

    async policy(caller: Caller, id: string): Promise<AgentRecord> {
      return mustFind(caller, id);
    },

    async updatePolicy(caller: Caller, id: string, patch: PolicyPatch): Promise<AgentRecord> {
      await mustFind(caller, id);
      requireLevel(caller, 'manage', 'change agent policies');
      return agents.updatePolicy(id, patch);
    },

    /** Spec 001 key export and env: admins only, each one audited; the key is never logged. */
    async exportKey(caller: Caller, id: string, action: 'key_export' | 'env_export', requestId: string | null): Promise<{ agent: AgentRecord; privateKey: string }> {
      const agent = await mustFind(caller, id);
      requireLevel(caller, 'manage', 'export agent keys');
      await agents.audit({ agentId: id, actorId: caller.actorId, action, requestId });
      deps.logger?.info({ agent_id: id, actor_id: caller.actorId, action, request_id: requestId }, 'agent key exported');
      return { agent, privateKey: vault.decrypt(id, agent.encryptedKey) };
    },

    /**
     * Spec 001 DELETE: drains the USDC back (see funding.drain for where to), then deactivates.
     * The encrypted key stays exportable. A deactivated agent answers the same again.
     */
    async deactivate(caller: Caller, id: string): Promise<{ agent: AgentRecord; drain: DrainOutcome }> {
      const agent = await mustFind(caller, id);
      requireLevel(caller, 'manage', 'deactivate agent wallets');
      const drain = await deps.drainOnDeactivate(caller, agent);
      const after = await ledger.transaction(async (tx) => {
        const a = await agents.deactivate(id, tx);
        if (a) await events.agentDeactivated(tx, agentEventData(a));
        return a;
      });
      return { agent: after ?? (await mustFind(caller, id)), drain };
    },

    /** Spec 001 on-ramp: a hosted-purchase session URL from the configured provider. */
    async onramp(caller: Caller, id: string, amountUsd: string | null): Promise<{ sessionId: string; url: string }> {
      const agent = await mustFind(caller, id);
      requireLevel(caller, 'operate', 'buy USDC for agents');
      if (!agent.active) throw new AppError('CONFLICT', 'Agent wallet is deactivated');
      if (!deps.onramp) throw new AppError('UNAVAILABLE', 'The fiat on-ramp is not configured on this platform (ONRAMP_API_URL)');
      const url = await deps.onramp.sessionUrl({ address: agent.walletAddress, amountUsd });
      const sessionId = randomUUID();
      await agents.recordOnramp({ id: sessionId, agentId: id, accountId: caller.accountId, actorId: caller.actorId, provider: deps.onramp.name, amountUsd });
      return { sessionId, url };
    },

    /** Spec 001 GET /balance: every agent of the account (up to BALANCE_AGENT_LIMIT) with live balances. */
    async balance(caller: Caller): Promise<{ total: bigint; totalAgents: number; activeAgents: number; agents: AgentWithBalance[] }> {
      const r = await agents.list(caller.accountId, { limit: BALANCE_AGENT_LIMIT, offset: 0 });
      const list = await withBalances(r.agents);
      return {
        total: list.reduce((s, a) => s + a.usdcBalance, 0n),
        totalAgents: r.total,
        activeAgents: r.agents.filter((a) => a.active).length,
        agents: list,
      };
    },
  };
}
export type AgentService = ReturnType<typeof agentService>;

export interface DrainOutcome {
  drained: boolean;
  amount: bigint;
  txHash: string | null;
  toAddress: string | null;
}
