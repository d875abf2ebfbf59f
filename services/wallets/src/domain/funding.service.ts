import { AppError } from '@platform/http';
import { checksum, randomNonce } from '../chain/chain.client';
import type { TokenTransfer } from '../chain/chain.client';
import type { AgentRecord, TransactionType } from '../db/agents.repository';
import type { Tx } from '../db/ledger.repository';
import type { AccountRef } from './ledger';
import type { Caller } from './access';
import { requireLevel } from './access';
import type { AgentWalletDeps, DrainOutcome } from './agents.service';
import { onChain, usd } from './chain-call';

/** Ledger accounts of an agent wallet (owner = agent id). */
export const agentWalletAccount = (agentId: string): AccountRef => ({ ownerId: agentId, kind: 'agent_wallet', currency: 'USDC' });
const agentGasAccount = (agentId: string): AccountRef => ({ ownerId: agentId, kind: 'agent_wallet', currency: 'ETH' });
/** Money entering or leaving the platform's view of this agent on chain (fundings, drains, payments to outsiders). */
export const agentExternal = (agentId: string): AccountRef => ({ ownerId: agentId, kind: 'external_funding', currency: 'USDC' });
const platformGas: AccountRef = { ownerId: 'platform', kind: 'platform_gas', currency: 'ETH' };

const GWEI = 1_000_000_000n;
/** A claimed auto top-up is given up after this long (a crashed process does not block the agent forever). */
const TOPUP_CLAIM_MS = 5 * 60_000;

/** Idempotency keys of chain-backed ledger entries: one per transaction and agent. */
export const chainFundKey = (txHash: string, agentId: string) => `chain-fund:${txHash}:${agentId}`;

export interface FundResult {
  amount: bigint;
  gasSponsored: boolean;
  gasTxHash: string | null;
}

/**
 * Spec 001 funding, draining, gas sponsorship and auto top-up. Amounts are read from the
 * chain, never taken from the request; each movement is a ledger entry, a transaction row and
 * an event committed together.
 */
export function fundingService(deps: AgentWalletDeps & { gasSponsorGwei: number; onrampSenders: string[] }) {
  const { agents, ledger, events, chain, vault } = deps;
  const log = deps.logger;
  const onrampSenders = new Set(deps.onrampSenders.map((a) => a.toLowerCase()));

  /** One chain operation at a time per agent in this process (drain, deposit, top-up read-then-send). */
  const locks = new Map<string, Promise<unknown>>();
  function exclusive<T>(agentId: string, fn: () => Promise<T>): Promise<T> {
    const prev = locks.get(agentId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    locks.set(agentId, tail);
    void tail.then(() => {
      if (locks.get(agentId) === tail) locks.delete(agentId);
    });
    return run;
  }

  async function recordIncoming(tx: Tx, agent: AgentRecord, p: { key: string; txHash: string; amount: bigint; from: string; source: 'fund' | 'onramp' | 'auto_topup' }): Promise<boolean> {
    const r = await ledger.post(tx, {
      idempotencyKey: p.key,
      kind: 'fund',
      metadata: { agent_id: agent.id, account_id: agent.accountId, tx_hash: p.txHash, amount_micros: p.amount.toString(), source: p.source, from_address: p.from },
      postings: [
        { account: agentWalletAccount(agent.id), amount: p.amount },
        { account: agentExternal(agent.id), amount: -p.amount },
      ],
    });
    if (r.duplicate) return false;
    const type: TransactionType = p.source;
    await agents.recordTransaction(tx, { agentId: agent.id, accountId: agent.accountId, type, txHash: p.txHash, fromAddress: p.from, toAddress: agent.walletAddress, amount: p.amount, token: 'USDC', ledgerEntryId: r.entry.id });
    await events.agentFunded(tx, { entry_id: r.entry.id, agent_id: agent.id, account_id: agent.accountId, tx_hash: p.txHash, amount_micros: p.amount.toString(), source: p.source });
    return true;
  }

  /** ETH from the treasury to the agent, posted in gwei. */
  async function sponsorGas(agent: AgentRecord): Promise<string> {
    const gwei = BigInt(deps.gasSponsorGwei);
    const txHash = await chain.sendEth(agent.walletAddress, gwei * GWEI);
    await ledger.transaction(async (tx) => {
      const r = await ledger.post(tx, {
        idempotencyKey: `gas:${txHash}`,
        kind: 'gas_sponsor',
        metadata: { agent_id: agent.id, account_id: agent.accountId, tx_hash: txHash, amount_gwei: gwei.toString() },
        postings: [
          { account: agentGasAccount(agent.id), amount: gwei },
          { account: platformGas, amount: -gwei },
        ],
      });
      await agents.recordTransaction(tx, {
        agentId: agent.id,
        accountId: agent.accountId,
        type: 'gas_sponsor',
        txHash,
        fromAddress: chain.treasuryAddress,
        toAddress: agent.walletAddress,
        amount: gwei * GWEI,
        token: 'ETH',
        ledgerEntryId: r.entry.id,
      });
    });
    return txHash;
  }

  /** Gas for a transaction the agent itself sends (auto top-up): sponsored when it holds too little. */
  async function ensureGas(agent: AgentRecord): Promise<void> {
    if (deps.gasSponsorGwei <= 0) return;
    const [held, needed] = await Promise.all([chain.ethBalance(agent.walletAddress), chain.tokenTxGasCost()]);
    if (held < needed) await sponsorGas(agent);
  }

  function destinationOf(agent: AgentRecord, requested: string | null, lastSource: string | null): string | null {
    return requested ?? agent.autoTopupSource ?? lastSource;
  }

  async function drainAgent(agent: AgentRecord, requested: string | null): Promise<DrainOutcome> {
    return exclusive(agent.id, async () => {
      const balance = await onChain('read the agent balance', () => chain.usdcBalance(agent.walletAddress));
      if (balance === 0n) return { drained: false, amount: 0n, txHash: null, toAddress: null };
      const to = destinationOf(agent, requested, await agents.lastFundingSource(agent.id));
      if (!to) {
        throw new AppError('CONFLICT', 'There is no wallet to drain to: pass "to_address", set auto_topup_source, or fund the agent through POST /agents/:id/fund first');
      }
      if (to.toLowerCase() === agent.walletAddress.toLowerCase()) throw new AppError('BAD_REQUEST', 'to_address must be another wallet than the agent itself');
      const key = vault.decrypt(agent.id, agent.encryptedKey);
      const mined = await onChain('drain the agent wallet', () => chain.transferWithAuthorization(key, to, balance, randomNonce()));
      const moved = mined.transfers.filter((t) => t.from === agent.walletAddress && t.to === checksum(to)).reduce((s, t) => s + t.value, 0n);
      await ledger.transaction(async (tx) => {
        const r = await ledger.post(tx, {
          idempotencyKey: `drain:${mined.txHash}`,
          kind: 'drain',
          metadata: { agent_id: agent.id, account_id: agent.accountId, tx_hash: mined.txHash, amount_micros: moved.toString(), to_address: checksum(to) },
          postings: [
            { account: agentWalletAccount(agent.id), amount: -moved },
            { account: agentExternal(agent.id), amount: moved },
          ],
        });
        if (r.duplicate) return;
        await agents.recordTransaction(tx, { agentId: agent.id, accountId: agent.accountId, type: 'drain', txHash: mined.txHash, fromAddress: agent.walletAddress, toAddress: checksum(to), amount: moved, token: 'USDC', ledgerEntryId: r.entry.id });
        await events.agentDrained(tx, { entry_id: r.entry.id, agent_id: agent.id, account_id: agent.accountId, tx_hash: mined.txHash, amount_micros: moved.toString(), to_address: checksum(to) });
      });
      return { drained: true, amount: moved, txHash: mined.txHash, toAddress: checksum(to) };
    });
  }

  /**
   * Pulls auto_topup_amount from auto_topup_source with the ERC-20 allowance the source gave
   * the agent's address, when the agent's balance is under auto_topup_threshold. Answers
   * whether it topped up; a source without allowance or balance is skipped (logged).
   */
  async function autoTopUp(agent: AgentRecord, opts: { locked?: boolean } = {}): Promise<boolean> {
    if (!agent.active || agent.autoTopupThreshold === null || !agent.autoTopupAmount || !agent.autoTopupSource) return false;
    const source = agent.autoTopupSource;
    const amount = agent.autoTopupAmount;
    const balance = await chain.usdcBalance(agent.walletAddress);
    if (balance >= agent.autoTopupThreshold) return false;
    if (!(await agents.claimTopup(agent.id, new Date(Date.now() + TOPUP_CLAIM_MS)))) return false;
    const pull = async () => {
      const [allowance, held] = await Promise.all([chain.allowance(source, agent.walletAddress), chain.usdcBalance(source)]);
      if (allowance < amount || held < amount) {
        log?.warn({ agent_id: agent.id, allowance: allowance.toString(), source_balance: held.toString(), amount: amount.toString() }, 'auto top-up skipped: the source has not allowed or does not hold the amount');
        return false;
      }
      await ensureGas(agent);
      const mined = await chain.pullWithAllowance(vault.decrypt(agent.id, agent.encryptedKey), source, amount);
      const got = mined.transfers.filter((t) => t.to === agent.walletAddress).reduce((s, t) => s + t.value, 0n);
      await ledger.transaction((tx) => recordIncoming(tx, agent, { key: chainFundKey(mined.txHash, agent.id), txHash: mined.txHash, amount: got, from: checksum(source), source: 'auto_topup' }));
      return true;
    };
    try {
      // A caller already holding the agent's lock (opening a session) must not wait for itself.
      return await (opts.locked ? pull() : exclusive(agent.id, pull));
    } finally {
      await agents.releaseTopup(agent.id);
    }
  }

  return {
    exclusive,
    sponsorGas,

    /**
     * Spec 001 POST /agents/:id/fund: records a funding transaction after reading it from the
     * chain. Refused: a hash already recorded for this agent, a transaction not mined (or not
     * yet confirmed), a failed one, one without a USDC Transfer to this agent, and a request
     * whose `amount` differs from what the chain says. The first funding sponsors gas.
     */
    async fund(caller: Caller, agent: AgentRecord, input: { txHash: string; amount: bigint | null }): Promise<FundResult> {
      requireLevel(caller, 'operate', 'fund agent wallets');
      if (!agent.active) throw new AppError('CONFLICT', 'Agent wallet is deactivated; it cannot be funded');
      const txHash = input.txHash.toLowerCase();
      if (await ledger.findEntry(chainFundKey(txHash, agent.id))) throw new AppError('CONFLICT', `Transaction ${txHash} was already recorded for this agent`);
      const credited = await agents.transactionByHash(txHash);
      if (credited && credited.agentId === agent.id && ['session_refund', 'auto_topup', 'fund', 'onramp'].includes(credited.type)) {
        throw new AppError('CONFLICT', `Transaction ${txHash} was already recorded for this agent (as ${credited.type})`);
      }
      const check = await onChain('read the transaction', () => chain.checkReceipt(txHash));
      if (check.state === 'unknown') throw new AppError('BAD_REQUEST', `Transaction ${txHash} was not found on chain ${chain.chainId}`);
      if (check.state === 'pending') throw new AppError('CONFLICT', `Transaction ${txHash} is not mined yet; record it once it is`);
      if (check.state === 'unconfirmed') throw new AppError('CONFLICT', `Transaction ${txHash} has ${check.confirmations} confirmation(s); retry once it has more`);
      if (check.state === 'failed') throw new AppError('BAD_REQUEST', `Transaction ${txHash} failed on chain; it moved no USDC`);
      const toAgent = check.transfers.filter((t: TokenTransfer) => t.to === agent.walletAddress);
      if (!toAgent.length) throw new AppError('BAD_REQUEST', `Transaction ${txHash} does not transfer USDC (${chain.usdcAddress}) to this agent's wallet ${agent.walletAddress}`);
      const amount = toAgent.reduce((s, t) => s + t.value, 0n);
      if (input.amount !== null && input.amount !== amount) {
        throw new AppError('BAD_REQUEST', `amount ${input.amount} does not match the chain: transaction ${txHash} transferred ${amount} micro-USDC to this agent`);
      }
      const from = toAgent[0].from;
      const source = onrampSenders.has(from.toLowerCase()) ? 'onramp' : 'fund';
      const recorded = await ledger.transaction((tx) => recordIncoming(tx, agent, { key: chainFundKey(txHash, agent.id), txHash, amount, from, source }));
      if (!recorded) throw new AppError('CONFLICT', `Transaction ${txHash} was already recorded for this agent`);

      let gasTxHash: string | null = null;
      if (deps.gasSponsorGwei > 0 && !agent.gasSponsoredAt && (await agents.claimGasSponsorship(agent.id))) {
        try {
          gasTxHash = await sponsorGas(agent);
        } catch (err) {
          // The funding stands; the next funding tries the sponsorship again.
          await agents.releaseGasSponsorship(agent.id);
          log?.warn({ agent_id: agent.id, err: String(err) }, 'gas sponsorship failed');
        }
      }
      return { amount, gasSponsored: gasTxHash !== null, gasTxHash };
    },

    /** Spec 001 POST /agents/:id/drain. Destination: to_address, else auto_topup_source, else where its last funding came from. */
    async drain(caller: Caller, agent: AgentRecord, toAddress: string | null): Promise<DrainOutcome> {
      requireLevel(caller, 'operate', 'drain agent wallets');
      return drainAgent(agent, toAddress);
    },

    drainAgent,
    autoTopUp,

    /** Whether an agent may pay `amount` now, topping up first when it is under its threshold or short. */
    async ensureBalance(agent: AgentRecord, amount: bigint, opts: { locked?: boolean } = {}): Promise<bigint> {
      let balance = await onChain('read the agent balance', () => chain.usdcBalance(agent.walletAddress));
      if (balance < amount || (agent.autoTopupThreshold !== null && balance < agent.autoTopupThreshold)) {
        try {
          if (await autoTopUp(agent, opts)) balance = await chain.usdcBalance(agent.walletAddress);
        } catch (err) {
          log?.warn({ agent_id: agent.id, err: String(err) }, 'auto top-up failed');
        }
      }
      if (balance < amount) {
        throw new AppError('PAYMENT_REQUIRED', `Insufficient budget: the agent wallet holds ${usd(balance)} USDC, ${usd(amount)} USDC is needed`, {
          usdc_balance: balance.toString(),
          required: amount.toString(),
        });
      }
      return balance;
    },

    /** The periodic check: every active agent with auto top-up configured, a page at a time. */
    async sweepAutoTopups(): Promise<number> {
      let after: string | null = null;
      let topped = 0;
      for (;;) {
        const page = await agents.withAutoTopup(after, 100);
        if (!page.length) return topped;
        for (const a of page) {
          try {
            if (await autoTopUp(a)) topped++;
          } catch (err) {
            log?.warn({ agent_id: a.id, err: String(err) }, 'auto top-up failed');
          }
        }
        after = page[page.length - 1].id;
      }
    },
  };
}
export type FundingService = ReturnType<typeof fundingService>;
