import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import { formatUsd } from '@platform/money';
import type { AccountRef } from './ledger';
import { InsufficientFundsError, LedgerRepository, PostedEntry, type DebitEntry, type DebitOutcome } from '../db/ledger.repository';
import type { AgentsRepository } from '../db/agents.repository';
import type { WalletEvents } from '../events/publishers';
import { checkCall, spendPeriodKeys, spendPeriods } from './policy';

/** Prepaid buyer balances in micro-USDC: funding, per-call debits by metering, refunds. */
export const buyerBalance = (ownerId: string): AccountRef => ({ ownerId, kind: 'buyer_balance', currency: 'USDC' });
const providerPayable = (ownerId: string): AccountRef => ({ ownerId, kind: 'provider_payable', currency: 'USDC' });
const externalFunding = (ownerId: string): AccountRef => ({ ownerId, kind: 'external_funding', currency: 'USDC' });

export interface DebitRequest {
  usageId: string;
  buyerId: string;
  amountMicros: bigint;
  providerId: string;
  serviceId: string;
  /**
   * The agent paying from the buyer's balance, if metering knows one: the debit then counts
   * against its policy spend (per_call_max, spending_cap, daily and monthly limits). It must
   * belong to `accountId` (the caller's org, else the buyer).
   */
  agent?: { agentId: string; accountId: string };
}
export interface DebitResult {
  usageId: string;
  debitedMicros: bigint;
  balanceMicros: bigint;
  duplicate: boolean;
}
export interface RefundResult {
  usageId: string;
  refundedMicros: bigint;
  balanceMicros: bigint;
  duplicate: boolean;
}
export interface FundResult {
  ownerId: string;
  balanceMicros: bigint;
  duplicate: boolean;
}

/** Idempotency keys: one namespace per movement, so a usage id is debited once and refunded once. */
export const debitKey = (usageId: string) => `payment:${usageId}`;
export const refundKey = (usageId: string) => `refund:${usageId}`;
/**
 * Scoped by owner: two callers choosing the same Idempotency-Key never see each other's
 * result. The owner id is length-prefixed so ("a:b", "c") and ("a", "b:c") cannot collide.
 */
export const fundKey = (ownerId: string, key: string) => `fund:${ownerId.length}:${ownerId}:${key}`;

/** When a payment was counted in its agent's spend periods: stored with the payment, else (older entries) its entry's time. */
export function spentAt(entry: PostedEntry): Date {
  const at = typeof entry.metadata.spent_at === 'string' ? new Date(entry.metadata.spent_at) : null;
  return at && !Number.isNaN(at.getTime()) ? at : entry.createdAt;
}

/** The balance the owner's account held right after this entry (the "first result" of a replay). */
function balanceAfter(entry: PostedEntry, account: AccountRef): bigint {
  const p = entry.postings.find((x) => x.account.ownerId === account.ownerId && x.account.kind === account.kind && x.account.currency === account.currency);
  if (!p) throw new Error(`entry ${entry.id} has no posting on ${account.ownerId}/${account.kind}`);
  return p.balanceAfter;
}

function insufficient(err: InsufficientFundsError): AppError {
  return new AppError(
    'PAYMENT_REQUIRED',
    `Insufficient balance: ${formatUsd(err.available)} USDC available, ${formatUsd(err.required)} USDC required`,
    { reason: 'insufficient_balance', balance_micros: err.available.toString(), required_micros: err.required.toString() },
  );
}

export function balanceService(deps: { ledger: LedgerRepository; events: WalletEvents; agents: AgentsRepository }) {
  const { ledger, events, agents } = deps;

  /** The agent's policy for a balance debit, read before the one statement (as session debits do). */
  async function agentTerms(req: DebitRequest, at: Date) {
    if (!req.agent) return null;
    const agent = await agents.findById(req.agent.agentId);
    // Another account's agent is absent, as everywhere in spec 001.
    if (!agent || agent.accountId !== req.agent.accountId) throw new AppError('NOT_FOUND', 'Agent wallet not found for this buyer', { reason: 'agent_not_found' });
    // Service lists and require_session are metering's authorize call: service_id here is the
    // marketplace id, not the name or host a policy lists.
    const call = checkCall(agent.policy, { amountMicros: req.amountMicros });
    const refusal = !agent.active
      ? new AppError('FORBIDDEN', 'Agent wallet is deactivated', { reason: 'agent_inactive' })
      : !call.allowed
        ? new AppError('PAYMENT_REQUIRED', call.reason!, { reason: call.code })
        : null;
    return { agent, refusal, periods: spendPeriods(agent.policy, at) };
  }

  /** A balance debit ready for the one statement, and how its row becomes the answer (or the error it throws). */
  async function prepareDebit(req: DebitRequest): Promise<{ entry: DebitEntry; finish: (r: DebitOutcome) => DebitResult }> {
    const entryId = randomUUID();
    const amount = req.amountMicros.toString();
    const at = new Date();
    // Only with an agent id: one read of the agent; without one nothing is added to the round trip.
    const terms = req.agent ? await agentTerms(req, at) : null;
    const agentId = terms?.agent.id;
    const envelope = events.paymentCompletedEnvelope({
      payment_id: entryId,
      usage_id: req.usageId,
      buyer_id: req.buyerId,
      provider_id: req.providerId,
      service_id: req.serviceId,
      amount_micros: amount,
      method: 'balance',
      ...(agentId ? { agent_id: agentId } : {}),
    });
    const entry: DebitEntry = {
      usageId: req.usageId,
      entryId,
      idempotencyKey: debitKey(req.usageId),
      metadata: {
        usage_id: req.usageId,
        buyer_id: req.buyerId,
        provider_id: req.providerId,
        service_id: req.serviceId,
        amount_micros: amount,
        method: 'balance',
        // A refund gives the spend back to the periods it was counted in.
        ...(agentId ? { agent_id: agentId, spent_at: at.toISOString() } : {}),
      },
      postings: [
        { account: buyerBalance(req.buyerId), amount: -req.amountMicros },
        { account: providerPayable(req.providerId), amount: req.amountMicros },
      ],
      envelope,
      ...(terms ? { agent: { agentId: terms.agent.id, refusal: terms.refusal ? String(terms.refusal.details?.reason) : null, periods: terms.periods } } : {}),
    };
    const finish = (r: DebitOutcome): DebitResult => {
      if (r.status === 'voided') throw new AppError('CONFLICT', `usage_id ${req.usageId} was refunded before it was debited; it cannot be charged`, { reason: 'usage_voided' });
      if (r.status === 'insufficient') throw insufficient(new InsufficientFundsError(r.account, r.available, r.required));
      if (r.status === 'refused') {
        if (!terms) throw new Error(`balance debit ${req.usageId} refused without an agent: ${r.code}`);
        if (terms.refusal && r.spent === null) throw terms.refusal;
        throw new AppError('PAYMENT_REQUIRED', `Insufficient budget: the agent has spent ${r.spent} of its ${r.code} of ${r.limit} micro-USDC`, { reason: r.code });
      }
      if (r.status === 'duplicate') {
        const m = r.metadata;
        if (
          m.buyer_id !== req.buyerId ||
          m.provider_id !== req.providerId ||
          m.service_id !== req.serviceId ||
          m.amount_micros !== amount ||
          (m.method ?? 'balance') !== 'balance' ||
          (m.agent_id ?? null) !== (agentId ?? null)
        ) {
          throw new AppError('CONFLICT', `usage_id ${req.usageId} was already debited with a different buyer, provider, service, agent or amount`);
        }
      }
      const balance = r.balanceAfter(buyerBalance(req.buyerId));
      if (balance === undefined) throw new Error(`entry ${r.entryId} has no posting on ${req.buyerId}/buyer_balance`);
      return { usageId: req.usageId, debitedMicros: req.amountMicros, balanceMicros: balance, duplicate: r.status === 'duplicate' };
    };
    return { entry, finish };
  }

  const service = {
    /**
     * Adds to the owner's prepaid balance from outside the ledger (`source` says from where:
     * 'dev' for the development route now, on-chain deposits later).
     */
    async fund(ownerId: string, amountMicros: bigint, opts: { source: string; idempotencyKey?: string }): Promise<FundResult> {
      const key = fundKey(ownerId, opts.idempotencyKey ?? randomUUID());
      return ledger.transaction(async (tx) => {
        const r = await ledger.post(tx, {
          idempotencyKey: key,
          kind: 'fund',
          metadata: { owner_id: ownerId, amount_micros: amountMicros.toString(), source: opts.source },
          postings: [
            { account: buyerBalance(ownerId), amount: amountMicros },
            { account: externalFunding(ownerId), amount: -amountMicros },
          ],
        });
        if (r.duplicate) {
          if (r.entry.metadata.owner_id !== ownerId || r.entry.metadata.amount_micros !== amountMicros.toString()) {
            throw new AppError('CONFLICT', 'Idempotency-Key was already used to fund a different amount');
          }
        } else {
          await events.balanceFunded(tx, { entry_id: r.entry.id, owner_id: ownerId, amount_micros: amountMicros.toString(), source: opts.source });
        }
        return { ownerId, balanceMicros: balanceAfter(r.entry, buyerBalance(ownerId)), duplicate: r.duplicate };
      });
    },

    /**
     * Several debits at once (metering's batch): each settles exactly as `debit` would alone,
     * in order, in ONE statement (ledger.debitMany); one refused or failing does not fail the
     * others. Answers one outcome per request, in order.
     */
    async debitMany(reqs: DebitRequest[]): Promise<({ ok: true; result: DebitResult } | { ok: false; error: unknown })[]> {
      const prepared = await Promise.all(reqs.map((r) => prepareDebit(r).then((p) => ({ ok: true as const, p }), (error: unknown) => ({ ok: false as const, error }))));
      const ready = prepared.flatMap((x) => (x.ok ? [x.p] : []));
      let outcomes: DebitOutcome[] | null = null;
      try {
        outcomes = ready.length ? await ledger.debitMany(ready.map((p) => p.entry)) : [];
      } catch {
        // The statement failed as a whole (a deadlock with another batch, say): each alone, in order.
        outcomes = null;
      }
      const answers: ({ ok: true; result: DebitResult } | { ok: false; error: unknown })[] = [];
      let k = 0;
      let posted = false;
      for (const x of prepared) {
        if (!x.ok) {
          answers.push({ ok: false, error: x.error });
          continue;
        }
        const p = ready[k++];
        try {
          const result = p.finish(outcomes ? outcomes[k - 1] : await ledger.debit(p.entry));
          posted ||= !result.duplicate;
          answers.push({ ok: true, result });
        } catch (error) {
          answers.push({ ok: false, error });
        }
      }
      if (posted) events.published();
      return answers;
    },

    /**
     * Moves one call's price from the buyer's balance to the provider's payable. Idempotent by
     * usage id: a replay answers the first result; a usage id reused for a different debit is a
     * conflict. Not enough balance is a 402 that writes nothing.
     */
    async debit(req: DebitRequest): Promise<DebitResult> {
      // One round trip: the ledger_debit function does lock, void check, claim, conditional
      // UPDATE, postings and outbox row (see ledger.repository debit).
      const p = await prepareDebit(req);
      const result = p.finish(await ledger.debit(p.entry));
      if (!result.duplicate) events.published();
      return result;
    },

    /**
     * Reverses a debit once (the call it paid for failed): the buyer gets the amount back and
     * the provider's payable gives it up. Replays answer the first refund.
     */
    async refund(usageId: string): Promise<RefundResult> {
      const result = await ledger.transaction(async (tx): Promise<RefundResult | 'voided'> => {
        await ledger.lockUsage(tx, usageId);
        const debit = await ledger.findEntry(debitKey(usageId), tx);
        if (!debit) {
          // Metering gave up on a debit still queued here: void the id so that debit, when it
          // arrives, is refused and the abandoned call is never charged.
          await ledger.voidUsage(tx, usageId);
          return 'voided';
        }
        // payment:<usage_id> is shared with session debits; their money goes back to the session.
        if (debit.metadata.method === 'session') {
          throw new AppError('CONFLICT', `usage_id ${usageId} was paid from payment session ${String(debit.metadata.session_id)}; refund it with POST /internal/sessions/:id/refunds`, {
            reason: 'session_debit',
          });
        }
        const buyerId = String(debit.metadata.buyer_id);
        const providerId = String(debit.metadata.provider_id);
        const amount = BigInt(String(debit.metadata.amount_micros));
        const r = await ledger.post(tx, {
          idempotencyKey: refundKey(usageId),
          kind: 'refund',
          metadata: {
            usage_id: usageId,
            reverses_entry_id: debit.id,
            buyer_id: buyerId,
            provider_id: providerId,
            service_id: String(debit.metadata.service_id),
            amount_micros: amount.toString(),
          },
          postings: [
            { account: buyerBalance(buyerId), amount },
            { account: providerPayable(providerId), amount: -amount },
          ],
        });
        // The agent's spend comes back with the money, once (a replay posts nothing).
        if (!r.duplicate && typeof debit.metadata.agent_id === 'string') {
          await agents.releaseSpend(tx, debit.metadata.agent_id, spendPeriodKeys(spentAt(debit)), amount);
        }
        return { usageId, refundedMicros: amount, balanceMicros: balanceAfter(r.entry, buyerBalance(buyerId)), duplicate: r.duplicate };
      });
      // Thrown after the commit: the void must stay written although the answer is a 404.
      if (result === 'voided') throw new AppError('NOT_FOUND', `No debit for usage_id ${usageId}; it is now void and a later debit of it is refused`, { reason: 'no_debit' });
      return result;
    },

    balanceOf: (ownerId: string) => ledger.balanceOf(buyerBalance(ownerId)),
  };
  return service;
}
export type BalanceService = ReturnType<typeof balanceService>;
