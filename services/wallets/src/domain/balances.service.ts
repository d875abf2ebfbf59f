import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import { formatUsd } from '@platform/money';
import type { AccountRef } from './ledger';
import { InsufficientFundsError, LedgerRepository, PostedEntry, type DebitEntry, type DebitOutcome } from '../db/ledger.repository';
import type { AgentsRepository } from '../db/agents.repository';
import type { LeasesRepository } from '../db/leases.repository';
import type { WalletEvents } from '../events/publishers';
import { checkCall, spendPeriodKeys, spendPeriods } from './policy';

/** Prepaid buyer balances in micro-USDC: funding, per-call debits by metering, refunds. */
export const buyerBalance = (ownerId: string): AccountRef => ({ ownerId, kind: 'buyer_balance', currency: 'USDC' });
const providerPayable = (ownerId: string): AccountRef => ({ ownerId, kind: 'provider_payable', currency: 'USDC' });
const externalFunding = (ownerId: string): AccountRef => ({ ownerId, kind: 'external_funding', currency: 'USDC' });
/** A balance lease's escrow (owner = lease id): lease debits take from it, its close empties it. */
export const leaseAccount = (leaseId: string): AccountRef => ({ ownerId: leaseId, kind: 'balance_lease', currency: 'USDC' });

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
  /**
   * The buyer's open balance lease to take the amount from instead of the buyer_balance
   * (metering spent it already; this posts the charge). Not with `agent`.
   */
  leaseId?: string;
}
export interface DebitResult {
  usageId: string;
  debitedMicros: bigint;
  /** The buyer_balance after the debit; for a lease debit, the lease's remaining. */
  balanceMicros: bigint;
  /** Lease debits only: what the lease holds after this debit (a replay: after the first). */
  leaseRemainingMicros?: bigint;
  duplicate: boolean;
}
/** What a buyer sees as its prepaid balance: the buyer_balance plus its open leases' remaining. */
export interface Funds {
  balanceMicros: bigint;
  leasedMicros: bigint;
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
export function balanceAfter(entry: PostedEntry, account: AccountRef): bigint {
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

/** Lease ids whose buyer this process knows; a lease's row is never deleted and its buyer never changes. */
const LEASE_CACHE_MAX = 10_000;

const leaseNotFound = (leaseId: string) => new AppError('NOT_FOUND', `No balance lease ${leaseId} for this buyer`, { reason: 'lease_not_found' });

export function balanceService(deps: { ledger: LedgerRepository; events: WalletEvents; agents: AgentsRepository; leases: LeasesRepository }) {
  const { ledger, events, agents, leases } = deps;
  const leaseBuyers = new Map<string, string>();

  /**
   * The buyer of each lease the requests name, read once per distinct unknown lease id (one
   * query for a whole batch, none once cached). Whether a lease is closed is not read here:
   * a closed lease's account is empty, so its debit comes back short, and only then is the
   * state read (see `closedLeases`).
   */
  async function buyersOfLeases(reqs: DebitRequest[]): Promise<ReadonlyMap<string, string>> {
    const found = new Map<string, string>();
    const missing: string[] = [];
    for (const id of new Set(reqs.flatMap((r) => (r.leaseId !== undefined ? [r.leaseId] : [])))) {
      const buyer = leaseBuyers.get(id);
      if (buyer !== undefined) found.set(id, buyer);
      else missing.push(id);
    }
    if (missing.length) {
      for (const l of await leases.findMany(missing)) {
        if (leaseBuyers.size >= LEASE_CACHE_MAX) leaseBuyers.delete(leaseBuyers.keys().next().value!);
        leaseBuyers.set(l.id, l.buyerId);
        found.set(l.id, l.buyerId);
      }
    }
    return found;
  }

  /**
   * Of the lease debits that came back short, the leases that are closed (409 lease_closed
   * rather than 402 lease_exhausted): one read per batch, only when one was short.
   */
  async function closedLeases(shortLeaseIds: string[]): Promise<ReadonlySet<string>> {
    const ids = [...new Set(shortLeaseIds)];
    if (!ids.length) return new Set();
    return new Set((await leases.findMany(ids)).filter((l) => l.state === 'closed').map((l) => l.id));
  }

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
  async function prepareDebit(
    req: DebitRequest,
    leaseBuyer: ReadonlyMap<string, string>,
  ): Promise<{ entry: DebitEntry; finish: (r: DebitOutcome, closed: ReadonlySet<string>) => DebitResult; leaseId: string | undefined }> {
    const leaseId = req.leaseId;
    if (leaseId !== undefined) {
      // The agent's spend was counted when metering leased the money, not per call here.
      if (req.agent) throw new AppError('BAD_REQUEST', 'agent_id cannot be combined with lease_id');
      if (leaseBuyer.get(leaseId) !== req.buyerId) throw leaseNotFound(leaseId);
    }
    // The account the amount comes from, the one guarded posting of the statement.
    const source = leaseId !== undefined ? leaseAccount(leaseId) : buyerBalance(req.buyerId);
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
        // A refund gives a lease debit back to the buyer_balance (metadata.buyer_id), not to the lease.
        ...(leaseId !== undefined ? { lease_id: leaseId } : {}),
      },
      postings: [
        { account: source, amount: -req.amountMicros },
        { account: providerPayable(req.providerId), amount: req.amountMicros },
      ],
      envelope,
      ...(terms ? { agent: { agentId: terms.agent.id, refusal: terms.refusal ? String(terms.refusal.details?.reason) : null, periods: terms.periods } } : {}),
    };
    const finish = (r: DebitOutcome, closed: ReadonlySet<string>): DebitResult => {
      if (r.status === 'voided') throw new AppError('CONFLICT', `usage_id ${req.usageId} was refunded before it was debited; it cannot be charged`, { reason: 'usage_voided' });
      if (r.status === 'insufficient' && leaseId !== undefined) {
        // A close empties the account in the transaction that marks the lease closed, so a
        // debit after it is always short, and the state read after that is always 'closed'.
        if (closed.has(leaseId)) throw new AppError('CONFLICT', `Balance lease ${leaseId} is closed`, { reason: 'lease_closed', lease_id: leaseId });
        throw new AppError('PAYMENT_REQUIRED', `Lease exhausted: ${formatUsd(r.available)} USDC left on lease ${leaseId}, ${formatUsd(r.required)} USDC required`, {
          reason: 'lease_exhausted',
          lease_id: leaseId,
          balance_micros: r.available.toString(),
          required_micros: r.required.toString(),
        });
      }
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
          (m.agent_id ?? null) !== (agentId ?? null) ||
          (m.lease_id ?? null) !== (leaseId ?? null)
        ) {
          throw new AppError('CONFLICT', `usage_id ${req.usageId} was already debited with a different buyer, provider, service, agent, lease or amount`);
        }
      }
      const balance = r.balanceAfter(source);
      if (balance === undefined) throw new Error(`entry ${r.entryId} has no posting on ${source.ownerId}/${source.kind}`);
      return {
        usageId: req.usageId,
        debitedMicros: req.amountMicros,
        balanceMicros: balance,
        ...(leaseId !== undefined ? { leaseRemainingMicros: balance } : {}),
        duplicate: r.status === 'duplicate',
      };
    };
    return { entry, finish, leaseId };
  }

  const service = {
    /**
     * Adds to the owner's prepaid balance from outside the ledger (`source` says from where:
     * 'dev' for the development route now, on-chain deposits later).
     */
    async fund(ownerId: string, amountMicros: bigint, opts: { source: string; idempotencyKey?: string }): Promise<FundResult> {
      const key = fundKey(ownerId, opts.idempotencyKey ?? randomUUID());
      return ledger.transaction(async (tx) => {
        // The balance answered includes the owner's open leases (it is still their money); kept
        // with the entry so that a replay answers the same figure.
        const { leased } = await leases.fundsOf(ownerId, tx);
        const r = await ledger.post(tx, {
          idempotencyKey: key,
          kind: 'fund',
          metadata: { owner_id: ownerId, amount_micros: amountMicros.toString(), source: opts.source, ...(leased > 0n ? { leased_micros: leased.toString() } : {}) },
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
        const leasedThen = typeof r.entry.metadata.leased_micros === 'string' ? BigInt(r.entry.metadata.leased_micros) : 0n;
        return { ownerId, balanceMicros: balanceAfter(r.entry, buyerBalance(ownerId)) + leasedThen, duplicate: r.duplicate };
      });
    },

    /**
     * Several debits at once (metering's batch): each settles exactly as `debit` would alone,
     * in order, in ONE statement (ledger.debitMany); one refused or failing does not fail the
     * others. Answers one outcome per request, in order.
     */
    async debitMany(reqs: DebitRequest[]): Promise<({ ok: true; result: DebitResult } | { ok: false; error: unknown })[]> {
      const leaseBuyer = await buyersOfLeases(reqs);
      const prepared = await Promise.all(reqs.map((r) => prepareDebit(r, leaseBuyer).then((p) => ({ ok: true as const, p }), (error: unknown) => ({ ok: false as const, error }))));
      const ready = prepared.flatMap((x) => (x.ok ? [x.p] : []));
      let outcomes: ({ ok: true; outcome: DebitOutcome } | { ok: false; error: unknown })[];
      try {
        outcomes = (ready.length ? await ledger.debitMany(ready.map((p) => p.entry)) : []).map((outcome) => ({ ok: true as const, outcome }));
      } catch {
        // The statement failed as a whole (a deadlock with another batch, say): each alone, in order.
        outcomes = [];
        for (const p of ready) outcomes.push(await ledger.debit(p.entry).then((outcome) => ({ ok: true as const, outcome }), (error: unknown) => ({ ok: false as const, error })));
      }
      const short = ready.flatMap((p, i) => {
        const o = outcomes[i];
        return o.ok && o.outcome.status === 'insufficient' && p.leaseId !== undefined ? [p.leaseId] : [];
      });
      // Should this read fail, the short lease debits are undecided (500) like a failed debit;
      // nothing was written for them.
      const closed = await closedLeases(short).then((c) => ({ ok: true as const, c }), (error: unknown) => ({ ok: false as const, error }));
      const answers: ({ ok: true; result: DebitResult } | { ok: false; error: unknown })[] = [];
      let k = 0;
      let posted = false;
      for (const x of prepared) {
        if (!x.ok) {
          answers.push({ ok: false, error: x.error });
          continue;
        }
        const p = ready[k];
        const o = outcomes[k++];
        try {
          if (!o.ok) throw o.error;
          if (!closed.ok && o.outcome.status === 'insufficient' && p.leaseId !== undefined) throw closed.error;
          const result = p.finish(o.outcome, closed.ok ? closed.c : new Set());
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
      const p = await prepareDebit(req, await buyersOfLeases([req]));
      const outcome = await ledger.debit(p.entry);
      const result = p.finish(outcome, outcome.status === 'insufficient' && p.leaseId !== undefined ? await closedLeases([p.leaseId]) : new Set());
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

    /** The buyer's prepaid balance as the buyer sees it: buyer_balance plus its open leases' remaining, one read. */
    async funds(ownerId: string): Promise<Funds> {
      const f = await leases.fundsOf(ownerId);
      return { balanceMicros: f.balance + f.leased, leasedMicros: f.leased };
    },

    /** The prepaid balance a buyer sees (open leases included). */
    balanceOf: async (ownerId: string): Promise<bigint> => (await service.funds(ownerId)).balanceMicros,
  };
  return service;
}
export type BalanceService = ReturnType<typeof balanceService>;
