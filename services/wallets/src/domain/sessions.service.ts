import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import { randomNonce } from '../chain/chain.client';
import type { AgentRecord } from '../db/agents.repository';
import type { SessionRecord, SessionsRepository } from '../db/sessions.repository';
import type { AccountRef } from './ledger';
import type { Caller } from './access';
import { requireLevel } from './access';
import type { AgentWalletDeps } from './agents.service';
import { onChain, usd } from './chain-call';
import { agentWalletAccount, FundingService } from './funding.service';
import { checkCall, spendPeriodKeys, spendPeriods } from './policy';
import { buyerBalance, refundKey, spentAt } from './balances.service';
import type { PostResult } from '../db/ledger.repository';

/** A session's deposit in the ledger (owner = session id); debited per call, never negative. */
export const sessionAccount = (sessionId: string): AccountRef => ({ ownerId: sessionId, kind: 'session_balance', currency: 'USDC' });
const providerPayable = (providerId: string): AccountRef => ({ ownerId: providerId, kind: 'provider_payable', currency: 'USDC' });

/** Spec 001: "default 1h, max 24h". */
export const DEFAULT_SESSION_S = 3_600;
export const MAX_SESSION_S = 86_400;

/** A usage id pays once whatever the method: session debits share the balance debits' key space. */
export const sessionDebitKey = (usageId: string) => `payment:${usageId}`;

export interface DebitInput {
  sessionId: string;
  /** The caller metering acts for; the session must belong to its account (else 404). */
  accountId: string;
  usageId: string;
  amountMicros: bigint;
  serviceId: string;
  providerId: string;
  /**
   * The agent metering was told pays (X-Agent-Wallet, an agent id): the session must be that
   * agent's (else 404, as if it did not exist). Then the debit is the whole authorization of
   * the call, and metering skips its separate authorize round trip.
   */
  agentId?: string | null;
}

export interface DebitResult {
  usageId: string;
  sessionId: string;
  debitedMicros: bigint;
  remainingMicros: bigint;
  usedMicros: bigint;
  callCount: number;
  duplicate: boolean;
  /** The session's agent and its per-call maximum (what an x402 payment of the call is checked against). */
  agentId: string;
  perCallMaxMicros: bigint | null;
}

export interface SessionRefundResult {
  usageId: string;
  sessionId: string;
  refundedMicros: bigint;
  /** The session's balance after the refund (a replay: after the first refund). */
  remainingMicros: bigint;
  /** `session` while it is open; `buyer_balance` (the account's prepaid balance) once a close has claimed it. */
  refundedTo: 'session' | 'buyer_balance';
  duplicate: boolean;
}

/** A close claimed the session between the refund's read and its write: refund elsewhere. */
class SessionNotOpen extends Error {}

/**
 * Spec 001 payment sessions: an on-chain deposit from the agent to the treasury, instant
 * off-chain debits against it, and an on-chain refund of the rest at close.
 */
export function sessionService(deps: AgentWalletDeps & { sessions: SessionsRepository; funding: FundingService }) {
  const { agents, sessions, ledger, events, chain, vault, funding } = deps;
  const now = deps.clock ?? (() => new Date());

  async function mustFind(caller: Caller, id: string): Promise<SessionRecord> {
    const s = await sessions.find(id, caller.accountId);
    if (!s) throw new AppError('NOT_FOUND', 'Session not found');
    return s;
  }

  /** Posts the deposit and opens the session, once, from a mined deposit transaction. */
  async function finishOpen(s: SessionRecord, agent: AgentRecord, txHash: string, moved: bigint): Promise<SessionRecord> {
    if (moved !== s.depositAmount) throw new Error(`session ${s.id}: deposit transaction ${txHash} moved ${moved}, not ${s.depositAmount}`);
    const expiresAt = new Date(now().getTime() + s.durationS * 1000);
    await ledger.transaction(async (tx) => {
      if (!(await sessions.markOpen(tx, s.id, txHash, expiresAt))) return;
      const r = await ledger.post(tx, {
        idempotencyKey: `session_deposit:${s.id}`,
        kind: 'session_deposit',
        metadata: { session_id: s.id, agent_id: agent.id, account_id: agent.accountId, tx_hash: txHash, amount_micros: moved.toString() },
        postings: [
          { account: agentWalletAccount(agent.id), amount: -moved },
          { account: sessionAccount(s.id), amount: moved },
        ],
      });
      await agents.recordTransaction(tx, {
        agentId: agent.id,
        accountId: agent.accountId,
        type: 'session_deposit',
        txHash,
        reference: s.id,
        fromAddress: agent.walletAddress,
        toAddress: chain.treasuryAddress,
        amount: moved,
        token: 'USDC',
        ledgerEntryId: r.entry.id,
      });
      await events.sessionOpened(tx, { session_id: s.id, agent_id: agent.id, account_id: agent.accountId, deposit_micros: moved.toString(), deposit_tx_hash: txHash, expires_at: expiresAt.toISOString() });
    });
    return (await sessions.findById(s.id))!;
  }

  async function submitDeposit(s: SessionRecord, agent: AgentRecord): Promise<SessionRecord> {
    const mined = await chain.transferWithAuthorization(vault.decrypt(agent.id, agent.encryptedKey), chain.treasuryAddress, s.depositAmount, s.depositNonce);
    await sessions.setDepositTxHash(s.id, mined.txHash);
    const moved = mined.transfers.filter((t) => t.from === agent.walletAddress && t.to === chain.treasuryAddress).reduce((sum, t) => sum + t.value, 0n);
    return finishOpen(s, agent, mined.txHash, moved);
  }

  /** Refunds the unused deposit on chain (idempotent by the session's refund nonce) and closes. */
  async function finishClose(s: SessionRecord): Promise<SessionRecord> {
    const agent = (await agents.findById(s.agentId))!;
    const remaining = await ledger.balanceOf(sessionAccount(s.id));
    let refundTxHash: string | null = null;
    if (remaining > 0n) {
      const mined = await onChain('refund the session', () => chain.payFromTreasury(agent.walletAddress, remaining, s.refundNonce!));
      refundTxHash = mined.txHash;
    }
    await ledger.transaction(async (tx) => {
      const current = await sessions.findById(s.id, tx);
      if (current?.status !== 'closing') return;
      let entryId: string | null = null;
      if (remaining > 0n) {
        const r = await ledger.post(tx, {
          idempotencyKey: `session_refund:${s.id}`,
          kind: 'session_refund',
          metadata: { session_id: s.id, agent_id: agent.id, account_id: agent.accountId, tx_hash: refundTxHash, amount_micros: remaining.toString() },
          postings: [
            { account: sessionAccount(s.id), amount: -remaining },
            { account: agentWalletAccount(agent.id), amount: remaining },
          ],
        });
        entryId = r.entry.id;
        await agents.recordTransaction(tx, {
          agentId: agent.id,
          accountId: agent.accountId,
          type: 'session_refund',
          txHash: refundTxHash,
          reference: s.id,
          fromAddress: chain.treasuryAddress,
          toAddress: agent.walletAddress,
          amount: remaining,
          token: 'USDC',
          ledgerEntryId: entryId,
        });
      }
      await sessions.markClosed(tx, s.id, remaining, refundTxHash);
      await events.sessionClosed(tx, {
        session_id: s.id,
        agent_id: agent.id,
        account_id: agent.accountId,
        deposit_micros: s.depositAmount.toString(),
        used_micros: current.usedAmount.toString(),
        refunded_micros: remaining.toString(),
        call_count: current.callCount,
        refund_tx_hash: refundTxHash,
      });
    });
    return (await sessions.findById(s.id))!;
  }

  return {
    /** Spec 001 POST /sessions. */
    async open(caller: Caller, input: { agentId: string; depositMicros: bigint; durationS: number }): Promise<SessionRecord> {
      requireLevel(caller, 'operate', 'open payment sessions');
      const agent = await agents.find(input.agentId, caller.accountId);
      if (!agent) throw new AppError('NOT_FOUND', 'Agent wallet not found');
      if (!agent.active) throw new AppError('CONFLICT', 'Agent wallet is deactivated');
      return funding.exclusive(agent.id, async () => {
        await funding.ensureBalance(agent, input.depositMicros, { locked: true });
        const s = await sessions.create({
          id: randomUUID(),
          agentId: agent.id,
          accountId: agent.accountId,
          depositAmount: input.depositMicros,
          durationS: input.durationS,
          depositNonce: randomNonce(),
          expiresAt: new Date(now().getTime() + input.durationS * 1000),
        });
        try {
          return await submitDeposit(s, agent);
        } catch (err) {
          // Nothing moved unless the authorization was used; a used one is finished by recovery.
          if (!(await chain.authorizationUsed(agent.walletAddress, s.depositNonce).catch(() => true))) await sessions.markFailed(s.id, String(err));
          return onChain('deposit into the session', () => Promise.reject(err));
        }
      });
    },

    list: (caller: Caller, filter: { agentId?: string; status?: 'open' | 'closed' }, page: { limit: number; offset: number }) => sessions.list(caller.accountId, filter, page),

    get: mustFind,

    /** Spec 001 POST /sessions/:id/close: expired sessions too; closing twice answers the same. */
    async close(caller: Caller, id: string): Promise<SessionRecord> {
      requireLevel(caller, 'operate', 'close payment sessions');
      const s = await mustFind(caller, id);
      if (s.status === 'closed') return s;
      if (s.status === 'opening' || s.status === 'failed') throw new AppError('CONFLICT', `Session is ${s.status === 'opening' ? 'still opening' : 'not open: its deposit failed'}`);
      const claimed = await sessions.claimClose(id, randomNonce());
      if (!claimed) return mustFind(caller, id);
      return finishClose(claimed);
    },

    /**
     * The internal per-call debit (metering): instant, atomic, idempotent by usage id. One
     * transaction claims the usage id, takes the amount from the session's ledger balance with
     * the conditional UPDATE (never below zero), counts it on the open, unexpired session, and
     * adds it to the agent's spend within its policy limits; any refusal rolls all of it back.
     */
    async debit(d: DebitInput): Promise<DebitResult> {
      const s = await sessions.findById(d.sessionId);
      if (!s || s.accountId !== d.accountId) throw new AppError('NOT_FOUND', 'Session not found');
      if (d.agentId && d.agentId.toLowerCase() !== s.agentId.toLowerCase()) {
        throw new AppError('NOT_FOUND', 'Session not found for this agent', { reason: 'session_not_found' });
      }
      const agent = (await agents.findById(s.agentId))!;
      const at = now();
      // The policy verdict needs no database; the ledger_debit function applies it after
      // counting the debit on the session, so refusals keep their order.
      const call = checkCall(agent.policy, { service: d.serviceId, amountMicros: d.amountMicros });
      const policyRefusal = !agent.active
        ? new AppError('FORBIDDEN', 'Agent wallet is deactivated', { reason: 'agent_inactive' })
        : !call.allowed
          ? new AppError(call.code === 'per_call_max' ? 'PAYMENT_REQUIRED' : 'FORBIDDEN', call.reason!, { reason: call.code })
          : null;
      const entryId = randomUUID();
      const amount = d.amountMicros.toString();
      const envelope = events.paymentCompletedEnvelope({
        payment_id: entryId,
        usage_id: d.usageId,
        buyer_id: agent.accountId,
        provider_id: d.providerId,
        service_id: d.serviceId,
        amount_micros: amount,
        method: 'session',
        agent_id: agent.id,
      });
      // One round trip: claim, conditional UPDATE of the session balance, session count,
      // policy verdict, spend limits, postings and outbox row in the ledger_debit function.
      const r = await ledger.debit({
        usageId: d.usageId,
        entryId,
        idempotencyKey: sessionDebitKey(d.usageId),
        metadata: {
          usage_id: d.usageId,
          session_id: s.id,
          agent_id: agent.id,
          buyer_id: agent.accountId,
          provider_id: d.providerId,
          service_id: d.serviceId,
          amount_micros: amount,
          method: 'session',
          // A refund gives the spend back to the periods it was counted in.
          spent_at: at.toISOString(),
        },
        postings: [
          { account: sessionAccount(s.id), amount: -d.amountMicros },
          { account: providerPayable(d.providerId), amount: d.amountMicros },
        ],
        envelope,
        checkVoid: false,
        session: { sessionId: s.id, now: at },
        agent: {
          agentId: agent.id,
          refusal: policyRefusal ? String(policyRefusal.details?.reason ?? 'refused') : null,
          periods: spendPeriods(agent.policy, at),
        },
      });
      if (r.status === 'voided') {
        throw new AppError('CONFLICT', `usage_id ${d.usageId} was refunded on session ${s.id} before it was debited; it cannot be charged`, { reason: 'usage_voided' });
      }
      if (r.status === 'insufficient') {
        throw new AppError('PAYMENT_REQUIRED', `Insufficient budget: the session has ${usd(r.available)} USDC left, the call costs ${usd(r.required)} USDC`, {
          reason: 'insufficient_session_balance',
          remaining_micros: r.available.toString(),
        });
      }
      if (r.status === 'refused') {
        if (r.code === 'session_expired' || r.code === 'session_closed') {
          throw new AppError('CONFLICT', `Session ${r.code === 'session_expired' ? 'has expired' : 'is closed'}; open a new one`, { reason: r.code });
        }
        if (policyRefusal && r.spent === null) throw policyRefusal;
        throw new AppError('PAYMENT_REQUIRED', `Insufficient budget: the agent has spent ${r.spent} of its ${r.code} of ${r.limit} micro-USDC`, { reason: r.code });
      }
      const remaining = r.balanceAfter(sessionAccount(s.id));
      if (remaining === undefined) throw new AppError('CONFLICT', `usage_id was already paid for by ${String(r.metadata.method ?? 'payment')}, not by session ${s.id}`);
      if (r.status === 'duplicate') {
        const m = r.metadata;
        if (m.session_id !== s.id || m.amount_micros !== amount || m.provider_id !== d.providerId || m.service_id !== d.serviceId) {
          throw new AppError('CONFLICT', `usage_id ${d.usageId} was already debited with a different session, amount, provider or service`);
        }
      } else {
        events.published();
      }
      return {
        usageId: d.usageId,
        sessionId: s.id,
        debitedMicros: d.amountMicros,
        remainingMicros: remaining,
        usedMicros: r.session!.usedAmount,
        callCount: r.session!.callCount,
        duplicate: r.status === 'duplicate',
        agentId: agent.id,
        perCallMaxMicros: agent.policy.perCallMax,
      };
    },

    /**
     * The internal session refund (metering): gives one session debit back, once. Under the
     * usage id's advisory lock (as a debit takes it): no debit of it on this session voids the
     * pair instead, so a debit arriving later is refused (409) and an abandoned call is never
     * charged. The money goes back to the session while it is open (its counters go down with
     * it) and to the account's prepaid balance once a close has claimed it (the close refunded
     * what the session held on chain then). The agent's spend is given back either way.
     */
    async refund(sessionId: string, usageId: string): Promise<SessionRefundResult> {
      const s = await sessions.findById(sessionId);
      // No such session: it holds no debit of anything, now or later (ids are random UUIDs).
      if (!s) throw new AppError('NOT_FOUND', `Session not found: it has no debit of usage_id ${usageId}`, { reason: 'no_debit' });
      const result = await ledger.transaction(async (tx): Promise<SessionRefundResult | 'voided'> => {
        await ledger.lockUsage(tx, usageId);
        const debit = await ledger.findEntry(sessionDebitKey(usageId), tx);
        if (!debit || debit.metadata.method !== 'session' || debit.metadata.session_id !== s.id) {
          await sessions.voidDebit(tx, s.id, usageId);
          return 'voided';
        }
        const m = debit.metadata;
        const amount = BigInt(String(m.amount_micros));
        const done = (r: PostResult['entry'], duplicate: boolean, remaining: bigint): SessionRefundResult => ({
          usageId,
          sessionId: s.id,
          refundedMicros: amount,
          remainingMicros: remaining,
          refundedTo: r.metadata.refunded_to === 'buyer_balance' ? 'buyer_balance' : 'session',
          duplicate,
        });
        const sessionAfter = (e: PostResult['entry']) => e.postings.find((p) => p.account.ownerId === s.id && p.account.kind === 'session_balance')?.balanceAfter;

        const previous = await ledger.findEntry(refundKey(usageId), tx);
        if (previous) return done(previous, true, sessionAfter(previous) ?? (await ledger.balanceOf(sessionAccount(s.id), tx)));

        const entry = (to: 'session' | 'buyer_balance') => ({
          idempotencyKey: refundKey(usageId),
          kind: 'refund' as const,
          metadata: {
            usage_id: usageId,
            reverses_entry_id: debit.id,
            session_id: s.id,
            agent_id: String(m.agent_id),
            buyer_id: String(m.buyer_id),
            provider_id: String(m.provider_id),
            service_id: String(m.service_id),
            amount_micros: amount.toString(),
            method: 'session',
            refunded_to: to,
          },
          postings: [
            { account: to === 'session' ? sessionAccount(s.id) : buyerBalance(String(m.buyer_id)), amount },
            { account: providerPayable(String(m.provider_id)), amount: -amount },
          ],
        });
        let posted: PostResult;
        try {
          // Accounts first, then the session row: the order a session debit locks in.
          posted = await ledger.savepoint(tx, async () => {
            const r = await ledger.post(tx, entry('session'));
            if (!r.duplicate && !(await sessions.uncountDebit(tx, s.id, amount))) throw new SessionNotOpen();
            return r;
          });
        } catch (err) {
          if (!(err instanceof SessionNotOpen)) throw err;
          posted = await ledger.post(tx, entry('buyer_balance'));
        }
        if (posted.duplicate) return done(posted.entry, true, sessionAfter(posted.entry) ?? (await ledger.balanceOf(sessionAccount(s.id), tx)));
        await agents.releaseSpend(tx, String(m.agent_id), spendPeriodKeys(spentAt(debit)), amount);
        return done(posted.entry, false, sessionAfter(posted.entry) ?? (await ledger.balanceOf(sessionAccount(s.id), tx)));
      });
      // Thrown after the commit: the void must stay written although the answer is a 404.
      if (result === 'voided') {
        throw new AppError('NOT_FOUND', `No debit of usage_id ${usageId} on session ${s.id}; it is now void for this session and a later debit of it is refused`, {
          reason: 'no_debit',
        });
      }
      return result;
    },

    /**
     * Finishes what a crash interrupted: an opening session whose deposit authorization was used
     * on chain is opened (or failed when it never moved), a closing one is refunded and closed.
     */
    async recover(olderThan: Date): Promise<number> {
      let n = 0;
      for (const s of await sessions.unfinished(olderThan)) {
        const agent = await agents.findById(s.agentId);
        if (!agent) continue;
        try {
          if (s.status === 'closing') {
            await finishClose(s);
          } else if (await chain.authorizationUsed(agent.walletAddress, s.depositNonce)) {
            await submitDeposit(s, agent);
          } else {
            await sessions.markFailed(s.id, 'the deposit was never made (recovered after a restart)');
          }
          n++;
        } catch (err) {
          deps.logger?.warn({ session_id: s.id, err: String(err) }, 'session recovery failed; retrying later');
        }
      }
      return n;
    },

    chainBalanceOf: (agent: AgentRecord) => onChain('read the agent balance', () => chain.usdcBalance(agent.walletAddress)),
  };
}
export type SessionService = ReturnType<typeof sessionService>;

export type { SessionRecord };
export { MAX_SESSION_S as SESSION_MAX_DURATION_S };
