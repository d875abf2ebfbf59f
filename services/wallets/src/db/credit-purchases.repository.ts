import type { SqlClient } from '@platform/events';
import type { Db } from './client';
import type { Tx } from './ledger.repository';

/**
 * Stripe customers, credit purchases, handled Stripe events and consumption shortfalls. No
 * credit moves here: the ledger (ledger.repository.ts) is the only place credits move.
 */
export type PurchaseStatus = 'created' | 'pending_payment' | 'completed' | 'expired';
export type PurchaseMethod = 'saved_payment_method' | 'checkout';

export interface Purchase {
  id: string;
  ownerId: string;
  packId: string;
  credits: number;
  amountCents: number;
  currency: string;
  status: PurchaseStatus;
  method: PurchaseMethod;
  idempotencyKey: string | null;
  customerId: string;
  checkoutSessionId: string | null;
  paymentUrl: string | null;
  expiresAt: Date | null;
  paymentIntentId: string | null;
  failureReason: string | null;
  ledgerEntryId: string | null;
  createdAt: Date;
  completedAt: Date | null;
}

export interface Customer {
  ownerId: string;
  customerId: string;
  defaultPaymentMethod: string | null;
}

export interface NewPurchase {
  id: string;
  ownerId: string;
  packId: string;
  credits: number;
  amountCents: number;
  currency: string;
  method: PurchaseMethod;
  idempotencyKey: string | null;
  customerId: string;
}

type Row = {
  id: string;
  ownerId: string;
  packId: string;
  credits: bigint;
  amountCents: bigint;
  currency: string;
  status: string;
  method: string;
  idempotencyKey: string | null;
  customerId: string;
  checkoutSessionId: string | null;
  paymentUrl: string | null;
  expiresAt: Date | null;
  paymentIntentId: string | null;
  failureReason: string | null;
  ledgerEntryId: string | null;
  createdAt: Date;
  completedAt: Date | null;
};

const toPurchase = (r: Row): Purchase => ({
  ...r,
  credits: Number(r.credits),
  amountCents: Number(r.amountCents),
  status: r.status as PurchaseStatus,
  method: r.method as PurchaseMethod,
});

const asTx = (c: SqlClient | Tx | Db): Tx => c as Tx;

export function creditPurchasesRepository(db: Db) {
  return {
    async customerOf(ownerId: string): Promise<Customer | null> {
      const c = await db.stripeCustomer.findUnique({ where: { ownerId } });
      return c && { ownerId: c.ownerId, customerId: c.customerId, defaultPaymentMethod: c.defaultPaymentMethod };
    },

    /** Keeps the first customer stored for the owner (a concurrent first purchase may have stored one). */
    async saveCustomer(ownerId: string, customerId: string): Promise<Customer> {
      await db.$executeRaw`
        INSERT INTO "stripe_customers" ("owner_id", "customer_id") VALUES (${ownerId}, ${customerId})
        ON CONFLICT DO NOTHING`;
      const c = await db.stripeCustomer.findUniqueOrThrow({ where: { ownerId } });
      return { ownerId: c.ownerId, customerId: c.customerId, defaultPaymentMethod: c.defaultPaymentMethod };
    },

    /**
     * The card a Checkout kept for later becomes the one charged off-session. Deliveries come
     * in any order: an event older than the one that saved the current method changes nothing.
     */
    async savePaymentMethod(client: SqlClient | Tx, customerId: string, paymentMethod: string, at: Date): Promise<boolean> {
      const n = await asTx(client).$executeRaw`
        UPDATE "stripe_customers" SET "default_payment_method" = ${paymentMethod}, "payment_method_updated_at" = ${at}, "updated_at" = now()
        WHERE "customer_id" = ${customerId} AND ("payment_method_updated_at" IS NULL OR "payment_method_updated_at" <= ${at})`;
      return n > 0;
    },

    /** Inserts the purchase; with an Idempotency-Key already used by the owner, answers that purchase instead. */
    async create(p: NewPurchase): Promise<{ purchase: Purchase; created: boolean }> {
      const inserted = await db.$executeRaw`
        INSERT INTO "credit_purchases" ("id", "owner_id", "pack_id", "credits", "amount_cents", "currency", "status", "method", "idempotency_key", "customer_id")
        VALUES (${p.id}::uuid, ${p.ownerId}, ${p.packId}, ${BigInt(p.credits)}, ${BigInt(p.amountCents)}, ${p.currency}, 'created', ${p.method}, ${p.idempotencyKey}, ${p.customerId})
        ON CONFLICT ("owner_id", "idempotency_key") DO NOTHING`;
      if (inserted) return { purchase: toPurchase(await db.creditPurchase.findUniqueOrThrow({ where: { id: p.id } })), created: true };
      const existing = await db.creditPurchase.findUniqueOrThrow({ where: { ownerId_idempotencyKey: { ownerId: p.ownerId, idempotencyKey: p.idempotencyKey! } } });
      return { purchase: toPurchase(existing), created: false };
    },

    async byIdempotencyKey(ownerId: string, key: string): Promise<Purchase | null> {
      const r = await db.creditPurchase.findUnique({ where: { ownerId_idempotencyKey: { ownerId, idempotencyKey: key } } });
      return r && toPurchase(r);
    },

    async byId(id: string): Promise<Purchase | null> {
      const r = await db.creditPurchase.findUnique({ where: { id } });
      return r && toPurchase(r);
    },

    /** Locks the purchase for the rest of `tx`, so completions and expiries of one purchase take turns. */
    async lock(client: SqlClient | Tx, id: string): Promise<Purchase | null> {
      const tx = asTx(client);
      const rows = await tx.$queryRaw<{ id: string }[]>`SELECT "id"::text AS "id" FROM "credit_purchases" WHERE "id" = ${id}::uuid FOR UPDATE`;
      if (!rows.length) return null;
      return toPurchase(await tx.creditPurchase.findUniqueOrThrow({ where: { id } }));
    },

    /** A declined off-session charge: the purchase goes on through Checkout. */
    async switchToCheckout(id: string, paymentIntentId: string | null, reason: string): Promise<void> {
      await db.creditPurchase.update({ where: { id }, data: { method: 'checkout', paymentIntentId, failureReason: reason.slice(0, 500), updatedAt: new Date() } });
    },

    async notePaymentIntent(id: string, paymentIntentId: string): Promise<void> {
      await db.creditPurchase.update({ where: { id }, data: { paymentIntentId, updatedAt: new Date() } });
    },

    async noteFailure(id: string, reason: string): Promise<void> {
      await db.creditPurchase.update({ where: { id }, data: { failureReason: reason.slice(0, 500), updatedAt: new Date() } });
    },

    /** Only a purchase still being created becomes pending: a completion that raced ahead stays completed. */
    async markPending(id: string, s: { sessionId: string; url: string; expiresAt: Date }): Promise<Purchase> {
      await db.creditPurchase.updateMany({
        where: { id, status: 'created' },
        data: { status: 'pending_payment', method: 'checkout', checkoutSessionId: s.sessionId, paymentUrl: s.url, expiresAt: s.expiresAt, updatedAt: new Date() },
      });
      return toPurchase(await db.creditPurchase.findUniqueOrThrow({ where: { id } }));
    },

    async markCompleted(client: SqlClient | Tx, id: string, c: { ledgerEntryId: string; paymentIntentId: string | null; checkoutSessionId: string | null }): Promise<void> {
      await asTx(client).creditPurchase.update({
        where: { id },
        data: {
          status: 'completed',
          ledgerEntryId: c.ledgerEntryId,
          ...(c.paymentIntentId ? { paymentIntentId: c.paymentIntentId } : {}),
          ...(c.checkoutSessionId ? { checkoutSessionId: c.checkoutSessionId } : {}),
          failureReason: null,
          completedAt: new Date(),
          updatedAt: new Date(),
        },
      });
    },

    async markExpired(client: SqlClient | Tx, id: string): Promise<void> {
      await asTx(client).creditPurchase.updateMany({ where: { id, status: { in: ['created', 'pending_payment'] } }, data: { status: 'expired', updatedAt: new Date() } });
    },

    async noteFailureIn(client: SqlClient | Tx, id: string, reason: string): Promise<void> {
      await asTx(client).creditPurchase.update({ where: { id }, data: { failureReason: reason.slice(0, 500), updatedAt: new Date() } });
    },

    /**
     * Claims a Stripe event id inside `tx`. False when it was handled before: a concurrent
     * delivery of the same event waits here for the first to commit, then finds it.
     */
    async claimStripeEvent(client: SqlClient | Tx, eventId: string, type: string, purchaseId: string | null): Promise<boolean> {
      const n = await asTx(client).$executeRaw`
        INSERT INTO "stripe_events" ("event_id", "type", "purchase_id") VALUES (${eventId}, ${type}, ${purchaseId}::uuid)
        ON CONFLICT DO NOTHING`;
      return n > 0;
    },

    async recordShortfall(client: SqlClient | Tx, s: { sourceEventId: string; ownerId: string; reason: string; credits: number; balance: bigint }): Promise<boolean> {
      const n = await asTx(client).$executeRaw`
        INSERT INTO "credit_shortfalls" ("source_event_id", "owner_id", "reason", "credits", "balance")
        VALUES (${s.sourceEventId}::uuid, ${s.ownerId}, ${s.reason}, ${BigInt(s.credits)}, ${s.balance})
        ON CONFLICT DO NOTHING`;
      return n > 0;
    },
  };
}
export type CreditPurchasesRepository = ReturnType<typeof creditPurchasesRepository>;
