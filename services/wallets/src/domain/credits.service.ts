import type { SqlClient } from '@platform/events';
import type { AccountRef } from './ledger';
import type { CreditUse } from './credit-packs';
import { InsufficientFundsError, LedgerRepository, PostedEntry } from '../db/ledger.repository';
import type { WalletEvents } from '../events/publishers';

/** Credits (spec 000) are whole units in their own currency, never mixed with USDC. */
export const creditsAccount = (ownerId: string): AccountRef => ({ ownerId, kind: 'credits', currency: 'CREDIT' });
const creditGrants = (ownerId: string): AccountRef => ({ ownerId, kind: 'credit_grants', currency: 'CREDIT' });
const creditSales = (ownerId: string): AccountRef => ({ ownerId, kind: 'credit_sales', currency: 'CREDIT' });
const creditUsage = (ownerId: string): AccountRef => ({ ownerId, kind: 'credit_usage', currency: 'CREDIT' });

/** One onboarding grant per organization, however often identity's event is delivered or re-sent. */
export const onboardKey = (orgId: string) => `onboard:${orgId}`;
/** One credit of a pack per purchase, whichever of the HTTP answer and Stripe's events gets there first. */
export const purchaseKey = (purchaseId: string) => `credit_purchase:${purchaseId}`;
/** One consumption per platform event (event ids are unique across types). */
export const consumptionKey = (eventId: string) => `credit_use:${eventId}`;

export interface CreditSummary {
  balance: bigint;
  /** Every credit ever added: free grants and purchased packs (spec 000 counts the onboarding 100). */
  lifetimePurchased: bigint;
  lifetimeConsumed: bigint;
}

export interface PurchaseCredit {
  purchaseId: string;
  ownerId: string;
  packId: string;
  credits: number;
  amountCents: number;
  currency: string;
  method: 'saved_payment_method' | 'checkout';
}

export type ConsumeOutcome =
  | { outcome: 'consumed'; balance: bigint; duplicate: boolean }
  /** The balance could not cover the cost: nothing consumed, a shortfall recorded. */
  | { outcome: 'shortfall'; balance: bigint }
  /** The owner never held credits (not on the credit plan): nothing to consume from, nothing recorded. */
  | { outcome: 'not_on_plan' }
  | { outcome: 'free' };

/** The credits balance right after this entry (what a replay answers). */
function creditsAfter(entry: PostedEntry, ownerId: string): bigint {
  const p = entry.postings.find((x) => x.account.ownerId === ownerId && x.account.kind === 'credits');
  if (!p) throw new Error(`entry ${entry.id} has no posting on ${ownerId}/credits`);
  return p.balanceAfter;
}

export function creditService(deps: { ledger: LedgerRepository; events: WalletEvents; recordShortfall: ShortfallRecorder }) {
  const { ledger, events } = deps;
  return {
    /** Runs inside the consumer's transaction, so the grant, its event and the dedup row commit together. */
    async grantOnboarding(tx: SqlClient, g: { ownerId: string; orgId: string; credits: number; eventId: string }): Promise<{ granted: boolean }> {
      if (g.credits <= 0) return { granted: false };
      const amount = BigInt(g.credits);
      const r = await ledger.post(tx, {
        idempotencyKey: onboardKey(g.orgId),
        kind: 'credit_grant',
        metadata: { owner_id: g.ownerId, org_id: g.orgId, credits: g.credits, reason: 'onboarding', event_id: g.eventId },
        postings: [
          { account: creditsAccount(g.ownerId), amount },
          { account: creditGrants(g.ownerId), amount: -amount },
        ],
      });
      if (r.duplicate) return { granted: false };
      await events.creditsGranted(tx, { owner_id: g.ownerId, credits: g.credits, reason: 'onboarding' });
      return { granted: true };
    },

    /**
     * Credits a paid pack once per purchase, inside the caller's transaction (which also marks
     * the purchase completed): the credits.purchased event is staged only by the first.
     */
    async creditPurchase(tx: SqlClient, p: PurchaseCredit): Promise<{ duplicate: boolean; entryId: string; balance: bigint }> {
      const amount = BigInt(p.credits);
      const r = await ledger.post(tx, {
        idempotencyKey: purchaseKey(p.purchaseId),
        kind: 'credit_purchase',
        metadata: {
          purchase_id: p.purchaseId,
          owner_id: p.ownerId,
          pack_id: p.packId,
          credits: p.credits,
          amount_cents: p.amountCents,
          currency: p.currency,
          method: p.method,
        },
        postings: [
          { account: creditsAccount(p.ownerId), amount },
          { account: creditSales(p.ownerId), amount: -amount },
        ],
      });
      if (!r.duplicate) {
        await events.creditsPurchased(tx, {
          purchase_id: p.purchaseId,
          owner_id: p.ownerId,
          pack_id: p.packId,
          credits: p.credits,
          amount_cents: p.amountCents,
          currency: p.currency,
          method: p.method,
        });
      }
      return { duplicate: r.duplicate, entryId: r.entry.id, balance: creditsAfter(r.entry, p.ownerId) };
    },

    /**
     * Takes `credits` for one use, inside the consumer's transaction, once per event id. The
     * balance never goes negative: when it cannot cover the whole cost nothing is taken and a
     * shortfall is recorded instead (the savepoint undoes the refused entry, the consumer's
     * transaction and its dedup row still commit).
     */
    async consume(tx: SqlClient, c: { ownerId: string; use: CreditUse; credits: number; eventId: string }): Promise<ConsumeOutcome> {
      if (c.credits <= 0) return { outcome: 'free' };
      if (!(await ledger.hasAccount(creditsAccount(c.ownerId), tx))) return { outcome: 'not_on_plan' };
      const amount = BigInt(c.credits);
      try {
        const r = await ledger.savepoint(tx, () =>
          ledger.post(tx, {
            idempotencyKey: consumptionKey(c.eventId),
            kind: 'credit_consumption',
            metadata: { owner_id: c.ownerId, use: c.use, credits: c.credits, event_id: c.eventId },
            postings: [
              { account: creditsAccount(c.ownerId), amount: -amount },
              { account: creditUsage(c.ownerId), amount },
            ],
          }),
        );
        const balance = creditsAfter(r.entry, c.ownerId);
        if (!r.duplicate) {
          await events.creditsConsumed(tx, { owner_id: c.ownerId, credits: c.credits, reason: c.use, source_event_id: c.eventId, balance_after: Number(balance) });
        }
        return { outcome: 'consumed', balance, duplicate: r.duplicate };
      } catch (err) {
        if (!(err instanceof InsufficientFundsError)) throw err;
        await deps.recordShortfall(tx, { sourceEventId: c.eventId, ownerId: c.ownerId, reason: c.use, credits: c.credits, balance: err.available });
        return { outcome: 'shortfall', balance: err.available };
      }
    },

    /** Balance and lifetime totals from the owner's credit accounts, read as one snapshot. */
    async summary(ownerId: string): Promise<CreditSummary> {
      const b = await ledger.balancesOf(ownerId, 'CREDIT');
      const of = (k: Parameters<typeof b.get>[0]) => b.get(k) ?? 0n;
      return { balance: of('credits'), lifetimePurchased: -(of('credit_grants') + of('credit_sales')), lifetimeConsumed: of('credit_usage') };
    },

    /** The stored result of a purchase's credit (a replayed request answers it). */
    async purchaseResult(purchaseId: string, ownerId: string): Promise<{ balance: bigint } | null> {
      const e = await ledger.findEntry(purchaseKey(purchaseId));
      return e && { balance: creditsAfter(e, ownerId) };
    },

    creditsOf: (ownerId: string) => ledger.balanceOf(creditsAccount(ownerId)),
  };
}
export type CreditService = ReturnType<typeof creditService>;

export type ShortfallRecorder = (tx: SqlClient, s: { sourceEventId: string; ownerId: string; reason: CreditUse; credits: number; balance: bigint }) => Promise<unknown>;
