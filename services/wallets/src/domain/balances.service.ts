import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import { formatUsd } from '@platform/money';
import type { AccountRef } from './ledger';
import { InsufficientFundsError, LedgerRepository, PostedEntry } from '../db/ledger.repository';
import type { WalletEvents } from '../events/publishers';

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
    { balance_micros: err.available.toString(), required_micros: err.required.toString() },
  );
}

export function balanceService(deps: { ledger: LedgerRepository; events: WalletEvents }) {
  const { ledger, events } = deps;

  return {
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
     * Moves one call's price from the buyer's balance to the provider's payable. Idempotent by
     * usage id: a replay answers the first result; a usage id reused for a different debit is a
     * conflict. Not enough balance is a 402 that writes nothing.
     */
    async debit(req: DebitRequest): Promise<DebitResult> {
      // One round trip: the ledger_debit function does lock, void check, claim, conditional
      // UPDATE, postings and outbox row (see ledger.repository debit).
      const entryId = randomUUID();
      const amount = req.amountMicros.toString();
      const envelope = events.paymentCompletedEnvelope({
        payment_id: entryId,
        usage_id: req.usageId,
        buyer_id: req.buyerId,
        provider_id: req.providerId,
        service_id: req.serviceId,
        amount_micros: amount,
        method: 'balance',
      });
      const r = await ledger.debit({
        usageId: req.usageId,
        entryId,
        idempotencyKey: debitKey(req.usageId),
        metadata: { usage_id: req.usageId, buyer_id: req.buyerId, provider_id: req.providerId, service_id: req.serviceId, amount_micros: amount, method: 'balance' },
        postings: [
          { account: buyerBalance(req.buyerId), amount: -req.amountMicros },
          { account: providerPayable(req.providerId), amount: req.amountMicros },
        ],
        envelope,
      });
      if (r.status === 'voided') throw new AppError('CONFLICT', `usage_id ${req.usageId} was refunded before it was debited; it cannot be charged`);
      if (r.status === 'insufficient') throw insufficient(new InsufficientFundsError(r.account, r.available, r.required));
      if (r.status === 'refused') throw new Error(`balance debit ${req.usageId} refused as a session debit: ${r.code}`);
      if (r.status === 'duplicate') {
        const m = r.metadata;
        if (m.buyer_id !== req.buyerId || m.provider_id !== req.providerId || m.service_id !== req.serviceId || m.amount_micros !== amount) {
          throw new AppError('CONFLICT', `usage_id ${req.usageId} was already debited with a different buyer, provider, service or amount`);
        }
      } else {
        events.published();
      }
      const balance = r.balanceAfter(buyerBalance(req.buyerId));
      if (balance === undefined) throw new Error(`entry ${r.entryId} has no posting on ${req.buyerId}/buyer_balance`);
      return { usageId: req.usageId, debitedMicros: req.amountMicros, balanceMicros: balance, duplicate: r.status === 'duplicate' };
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
        return { usageId, refundedMicros: amount, balanceMicros: balanceAfter(r.entry, buyerBalance(buyerId)), duplicate: r.duplicate };
      });
      // Thrown after the commit: the void must stay written although the answer is a 404.
      if (result === 'voided') throw new AppError('NOT_FOUND', `No debit for usage_id ${usageId}; it is now void and a later debit of it is refused`);
      return result;
    },

    balanceOf: (ownerId: string) => ledger.balanceOf(buyerBalance(ownerId)),
  };
}
export type BalanceService = ReturnType<typeof balanceService>;
