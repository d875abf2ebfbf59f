import { AppError } from '@platform/http';
import { checksum } from '../chain/chain.client';
import type { SignedAuthorization } from '../chain/chain.client';
import type { AgentRecord } from '../db/agents.repository';
import type { SessionsRepository } from '../db/sessions.repository';
import type { AgentWalletDeps } from './agents.service';
import { onChain, usd } from './chain-call';
import { agentExternal, agentWalletAccount, FundingService } from './funding.service';
import { checkBudget, checkCall, PolicyCode, spendPeriodKeys, spendPeriods } from './policy';
import { spentAt } from './balances.service';

export interface AuthorizeQuery {
  /** The account metering acts for: the caller's organization, else the caller. */
  accountId: string;
  /** Agent id, or its name / slug (spec 001 `X-Agent-Wallet: research-bot`). */
  agent: string;
  service: string | null;
  amountMicros: bigint | null;
  sessionId: string | null;
}

export interface AuthorizeResult {
  allowed: boolean;
  code: PolicyCode | 'session_not_found' | 'session_not_open' | 'insufficient_session_balance' | 'insufficient_balance';
  reason: string | null;
  agent: AgentRecord;
  session: { id: string; remainingMicros: bigint } | null;
  usdcBalance: bigint | null;
}

export interface SignRequest {
  agentId: string;
  to: string;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: string;
  service: string | null;
  usageId: string | null;
}

export interface VoidResult {
  agentId: string;
  nonce: string;
  usageId: string | null;
  voidedMicros: bigint;
  duplicate: boolean;
}

/** Ledger keys of a signed EIP-3009 payment and of its void; the nonce in lower case. */
const x402Key = (agentId: string, nonce: string) => `x402:${agentId}:${nonce}`;
const x402VoidKey = (agentId: string, nonce: string) => `x402_void:${agentId}:${nonce}`;

/**
 * What metering asks of wallets for spec 001 external fetch and x402: whether an agent may
 * pay (policy, budget, session or wallet balance), and EIP-3009 signatures made with the
 * agent's key, which never leaves this service.
 */
export function paymentService(deps: AgentWalletDeps & { sessions: SessionsRepository; funding: FundingService }) {
  const { agents, sessions, ledger, events, chain, vault, funding } = deps;
  const now = deps.clock ?? (() => new Date());

  async function spentNow(agent: AgentRecord, at: Date) {
    const periods = spendPeriods(agent.policy, at);
    const totals = await agents.spendTotals(agent.id, periods.map((p) => p.period));
    return { total: totals.get(periods[0].period) ?? 0n, day: totals.get(periods[1].period) ?? 0n, month: totals.get(periods[2].period) ?? 0n };
  }

  return {
    /**
     * A read-only verdict (nothing is reserved): the session or the wallet must cover the
     * amount when one is given. The debit or the signature enforces the limits again atomically.
     */
    async authorize(q: AuthorizeQuery): Promise<AuthorizeResult> {
      const { agent, ambiguous } = await agents.resolve(q.accountId, q.agent);
      if (!agent) throw new AppError('NOT_FOUND', ambiguous ? `Several agent wallets are named "${q.agent}"; use the agent id` : 'Agent wallet not found');
      const deny = (code: AuthorizeResult['code'], reason: string, extra: Partial<AuthorizeResult> = {}): AuthorizeResult => ({ allowed: false, code, reason, agent, session: null, usdcBalance: null, ...extra });
      if (!agent.active) return deny('agent_inactive', 'Agent wallet is deactivated');
      const call = checkCall(agent.policy, { service: q.service, amountMicros: q.amountMicros, withSession: q.sessionId !== null });
      if (!call.allowed) return deny(call.code, call.reason!);
      if (q.amountMicros !== null) {
        const budget = checkBudget(agent.policy, await spentNow(agent, now()), q.amountMicros);
        if (!budget.allowed) return deny(budget.code, budget.reason!);
      }
      if (q.sessionId) {
        const s = await sessions.findById(q.sessionId);
        if (!s || s.accountId !== q.accountId || s.agentId !== agent.id) return deny('session_not_found', 'Session not found for this agent');
        if (s.status !== 'open' || s.expiresAt <= now()) return deny('session_not_open', s.status === 'open' ? 'Session has expired; open a new one' : 'Session is closed');
        const remaining = s.depositAmount - s.usedAmount;
        const session = { id: s.id, remainingMicros: remaining };
        if (q.amountMicros !== null && remaining < q.amountMicros) {
          return deny('insufficient_session_balance', `Insufficient budget: the session has ${usd(remaining)} USDC left`, { session });
        }
        return { allowed: true, code: 'ok', reason: null, agent, session, usdcBalance: null };
      }
      const balance = await onChain('read the agent balance', () => chain.usdcBalance(agent.walletAddress));
      if (q.amountMicros !== null && balance < q.amountMicros) {
        return deny('insufficient_balance', `Insufficient budget: the agent wallet holds ${usd(balance)} USDC`, { usdcBalance: balance });
      }
      return { allowed: true, code: 'ok', reason: null, agent, session: null, usdcBalance: balance };
    },

    /**
     * Signs TransferWithAuthorization(agent → to, value, validity, nonce) for metering's x402
     * payment. Within the agent's policy (per-call max, cap, daily and monthly limits, counted
     * atomically) and its on-chain balance. The signature is a bearer instrument for `value`,
     * so it is booked as a payment when signed: ledger (agent_wallet → external), spend, a
     * `payment` transaction and payment.completed, once per (agent, nonce). The same nonce
     * again answers a signature over the same parameters; other parameters are a 409.
     */
    async signEip3009(r: SignRequest): Promise<SignedAuthorization> {
      const agent = await agents.findById(r.agentId);
      if (!agent) throw new AppError('NOT_FOUND', 'Agent wallet not found');
      if (!agent.active) throw new AppError('FORBIDDEN', 'Agent wallet is deactivated');
      const to = checksum(r.to);
      const nonce = r.nonce.toLowerCase();
      const key = x402Key(agent.id, nonce);
      const voided = () => new AppError('CONFLICT', `nonce ${r.nonce} was voided; sign a new nonce`, { reason: 'authorization_voided' });
      const previous = await ledger.findEntry(key);
      if (previous) {
        const m = previous.metadata;
        if (m.to !== to || m.amount_micros !== r.value.toString() || m.valid_after !== r.validAfter.toString() || m.valid_before !== r.validBefore.toString()) {
          throw new AppError('CONFLICT', `nonce ${r.nonce} was already signed for other parameters`);
        }
        if (await agents.authorizationVoid(agent.id, nonce)) throw voided();
      } else {
        const call = checkCall(agent.policy, { service: r.service, amountMicros: r.value });
        if (!call.allowed) throw new AppError(call.code === 'per_call_max' ? 'PAYMENT_REQUIRED' : 'FORBIDDEN', call.reason!, { reason: call.code });
        await funding.ensureBalance(agent, r.value);
        const at = now();
        await ledger.transaction(async (tx) => {
          // A void that found nothing (metering timed out on this signature) refuses it for good.
          await ledger.lockAuthorization(tx, agent.id, nonce);
          if (await agents.authorizationVoid(agent.id, nonce, tx)) throw voided();
          const posted = await ledger.post(tx, {
            idempotencyKey: key,
            kind: 'payment',
            metadata: {
              agent_id: agent.id,
              account_id: agent.accountId,
              to,
              amount_micros: r.value.toString(),
              valid_after: r.validAfter.toString(),
              valid_before: r.validBefore.toString(),
              nonce,
              usage_id: r.usageId,
              service: r.service,
              method: 'x402',
              // A void gives the spend back to the periods it was counted in.
              spent_at: at.toISOString(),
            },
            postings: [
              { account: agentWalletAccount(agent.id), amount: -r.value },
              { account: agentExternal(agent.id), amount: r.value },
            ],
          });
          if (posted.duplicate) return;
          const over = await agents.addSpend(tx, agent.id, spendPeriods(agent.policy, at), r.value);
          if (over) throw new AppError('PAYMENT_REQUIRED', `Insufficient budget: the agent has spent ${over.spent} of its ${over.code} of ${over.limit} micro-USDC`, { reason: over.code });
          await agents.recordTransaction(tx, {
            agentId: agent.id,
            accountId: agent.accountId,
            type: 'payment',
            txHash: null,
            reference: r.nonce.toLowerCase(),
            fromAddress: agent.walletAddress,
            toAddress: to,
            amount: r.value,
            token: 'USDC',
            ledgerEntryId: posted.entry.id,
          });
          await events.paymentCompleted(tx, {
            payment_id: posted.entry.id,
            usage_id: r.usageId ?? r.nonce.toLowerCase(),
            buyer_id: agent.accountId,
            provider_id: to,
            service_id: r.service ?? '',
            amount_micros: r.value.toString(),
            method: 'x402',
            agent_id: agent.id,
          });
        });
      }
      return chain.signAuthorization(vault.decrypt(agent.id, agent.encryptedKey), {
        from: agent.walletAddress,
        to,
        value: r.value,
        validAfter: r.validAfter,
        validBefore: r.validBefore,
        nonce: r.nonce,
      });
    },

    /**
     * Releases the booking of a signed authorization the payee refused or metering never sent:
     * the ledger entry is reversed, the agent's spend given back, the `payment` row taken off the
     * transaction list, once per (agent, nonce). An authorization already used on chain
     * (`authorizationState`) is a 409: that money moved. Nothing booked for the nonce: 404,
     * and the nonce is void, so a signing of it still in flight is refused (409). A signature
     * already handed out stays valid on chain until valid_before: the caller must only void
     * one the payee never received or definitively refused.
     */
    async voidAuthorization(agentId: string, rawNonce: string): Promise<VoidResult> {
      const agent = await agents.findById(agentId);
      if (!agent) throw new AppError('NOT_FOUND', 'Agent wallet not found', { reason: 'agent_not_found' });
      const nonce = rawNonce.toLowerCase();
      const key = x402Key(agent.id, nonce);
      const result = await ledger.transaction(async (tx): Promise<VoidResult | 'unknown'> => {
        await ledger.lockAuthorization(tx, agent.id, nonce);
        const booking = await ledger.findEntry(key, tx);
        const previous = await agents.authorizationVoid(agent.id, nonce, tx);
        if (!booking) {
          if (!previous) await agents.voidAuthorization(tx, agent.id, nonce, null);
          return 'unknown';
        }
        const amount = BigInt(String(booking.metadata.amount_micros));
        const usageId = typeof booking.metadata.usage_id === 'string' ? booking.metadata.usage_id : null;
        const out = (duplicate: boolean): VoidResult => ({ agentId: agent.id, nonce, usageId, voidedMicros: amount, duplicate });
        if (previous) return out(true);
        // One eth_call while the lock is held: a void is never booked for money that moved.
        if (await onChain('read the authorization state', () => chain.authorizationUsed(agent.walletAddress, nonce))) {
          throw new AppError('CONFLICT', `nonce ${nonce} was already used on chain: the payment was made and cannot be voided`, { reason: 'authorization_used' });
        }
        const posted = await ledger.post(tx, {
          idempotencyKey: x402VoidKey(agent.id, nonce),
          kind: 'refund',
          metadata: {
            agent_id: agent.id,
            account_id: agent.accountId,
            nonce,
            usage_id: usageId,
            reverses_entry_id: booking.id,
            amount_micros: amount.toString(),
            method: 'x402',
          },
          postings: [
            { account: agentWalletAccount(agent.id), amount },
            { account: agentExternal(agent.id), amount: -amount },
          ],
        });
        await agents.releaseSpend(tx, agent.id, spendPeriodKeys(spentAt(booking)), amount);
        await agents.removeUnsentPayment(tx, agent.id, nonce);
        await agents.voidAuthorization(tx, agent.id, nonce, posted.entry.id);
        return out(false);
      });
      // Thrown after the commit: the void of an unknown nonce must stay written.
      if (result === 'unknown') {
        throw new AppError('NOT_FOUND', `No authorization with nonce ${nonce} was signed for this agent; the nonce is now void and cannot be signed`, { reason: 'no_authorization' });
      }
      return result;
    },
  };
}
export type PaymentService = ReturnType<typeof paymentService>;
