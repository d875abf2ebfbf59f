import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import type { Logger } from '@platform/telemetry';
import type { CreditPack } from './credit-packs';
import type { CreditService } from './credits.service';
import type { LedgerRepository } from '../db/ledger.repository';
import type { CreditPurchasesRepository, Purchase } from '../db/credit-purchases.repository';
import { PaymentProvider, PaymentProviderError, StripeWebhookEvent, WebhookSignatureError } from '../clients/stripe.client';

/** Spec 000 `POST /agent-credits` answers. */
export type PurchaseReply =
  | { status: 'completed'; creditsAdded: number; newBalance: bigint; amountChargedCents: number; replayed: boolean }
  | { status: 'pending_payment'; paymentUrl: string; expiresAt: Date; replayed: boolean }
  /** Not in spec 000: Stripe accepted the charge but settles it later; payment_intent.succeeded completes it. */
  | { status: 'processing'; replayed: boolean };

export type WebhookOutcome = { received: true; duplicate?: true; ignored?: string };

export interface CheckoutSettings {
  successUrl: string;
  cancelUrl: string;
  expiresMinutes: number;
}

/** Packs are sold in US dollars (spec 000 `price_usd`). */
const CURRENCY = 'usd';
/** Stripe refuses a Checkout Session that expires sooner than 30 minutes after it is created. */
const STRIPE_MIN_CHECKOUT_MS = 30 * 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const NOT_CONFIGURED =
  'Credit purchases are not available: this platform has no Stripe configuration (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET). Balances and free credits still work.';

/**
 * Credit packs bought through Stripe (spec 000). With a saved payment method the pack is
 * charged at once (PaymentIntent, confirm + off_session); otherwise, or when the bank wants
 * the customer present, the answer is a Checkout URL for a human. Whichever of the HTTP
 * answer and Stripe's events arrives first credits the pack; the ledger key
 * `credit_purchase:<id>` makes every later one a no-op.
 */
export function creditPurchaseService(deps: {
  purchases: CreditPurchasesRepository;
  credits: CreditService;
  ledger: LedgerRepository;
  payments: PaymentProvider | null;
  packs: CreditPack[];
  checkout: CheckoutSettings;
  logger: Logger;
  clock?: () => Date;
}) {
  const { purchases, credits, ledger, packs, logger } = deps;
  const clock = deps.clock ?? (() => new Date());

  const paymentsOrThrow = (): PaymentProvider => {
    if (!deps.payments) throw new AppError('UNAVAILABLE', NOT_CONFIGURED);
    return deps.payments;
  };

  const providerDown = (err: unknown): never => {
    if (err instanceof PaymentProviderError) {
      logger.warn({ err: err.message }, 'Stripe request failed');
      throw new AppError('BAD_GATEWAY', 'The payment provider could not be reached; nothing was charged. Retry with the same Idempotency-Key.');
    }
    throw err;
  };

  async function ensureCustomer(payments: PaymentProvider, ownerId: string) {
    const known = await purchases.customerOf(ownerId);
    if (known) return known;
    const { customerId } = await payments.createCustomer(ownerId).catch(providerDown);
    return purchases.saveCustomer(ownerId, customerId);
  }

  /** Credits the pack for a payment Stripe confirmed, once, and marks the purchase completed. */
  async function complete(
    tx: Parameters<CreditService['creditPurchase']>[0],
    p: Purchase,
    paid: { amountCents: number; currency: string; paymentIntentId: string | null; checkoutSessionId: string | null },
  ): Promise<{ balance: bigint } | { mismatch: string }> {
    if (paid.amountCents !== p.amountCents || paid.currency.toLowerCase() !== p.currency) {
      const reason = `paid ${paid.amountCents} ${paid.currency}, expected ${p.amountCents} ${p.currency}`;
      logger.error({ purchase_id: p.id, reason }, 'Stripe reports a payment that does not match the purchase; not crediting');
      await purchases.noteFailureIn(tx, p.id, reason);
      return { mismatch: reason };
    }
    const r = await credits.creditPurchase(tx, {
      purchaseId: p.id,
      ownerId: p.ownerId,
      packId: p.packId,
      credits: p.credits,
      amountCents: p.amountCents,
      currency: p.currency,
      method: p.method,
    });
    if (p.status !== 'completed') await purchases.markCompleted(tx, p.id, { ledgerEntryId: r.entryId, paymentIntentId: paid.paymentIntentId, checkoutSessionId: paid.checkoutSessionId });
    return { balance: r.balance };
  }

  async function completedReply(p: Purchase, replayed: boolean): Promise<PurchaseReply> {
    const result = await credits.purchaseResult(p.id, p.ownerId);
    if (!result) throw new Error(`purchase ${p.id} is completed but has no ledger entry`);
    return { status: 'completed', creditsAdded: p.credits, newBalance: result.balance, amountChargedCents: p.amountCents, replayed };
  }

  /** Takes a purchase as far as it can go now: charged and credited, or waiting at Checkout. */
  async function advance(payments: PaymentProvider, p: Purchase, replayed: boolean): Promise<PurchaseReply> {
    if (p.status === 'completed') return completedReply(p, replayed);
    if (p.status === 'expired' || (p.status === 'pending_payment' && p.expiresAt! <= clock())) {
      throw new AppError('GONE', `This purchase's payment link expired${p.expiresAt ? ` at ${iso(p.expiresAt)}` : ''}; send POST /agent-credits again with a new Idempotency-Key`);
    }
    if (p.status === 'pending_payment') return { status: 'pending_payment', paymentUrl: p.paymentUrl!, expiresAt: p.expiresAt!, replayed };

    if (p.method === 'saved_payment_method') {
      const customer = await purchases.customerOf(p.ownerId);
      if (customer?.defaultPaymentMethod) {
        const charge = await payments
          .chargeSaved({ purchaseId: p.id, ownerId: p.ownerId, packId: p.packId, customerId: p.customerId, paymentMethod: customer.defaultPaymentMethod, amountCents: p.amountCents, currency: p.currency })
          .catch(async (err: unknown) => {
            if (err instanceof PaymentProviderError) await purchases.noteFailure(p.id, err.message);
            return providerDown(err);
          });
        if (charge.outcome === 'succeeded') {
          const done = await ledger.transaction(async (tx) => {
            const locked = (await purchases.lock(tx, p.id))!;
            return complete(tx, locked, { amountCents: charge.amountReceived, currency: p.currency, paymentIntentId: charge.paymentIntentId, checkoutSessionId: null });
          });
          if ('mismatch' in done) throw new AppError('BAD_GATEWAY', 'The payment provider reported an unexpected amount; no credits were added. Contact support with this request id.');
          return { status: 'completed', creditsAdded: p.credits, newBalance: done.balance, amountChargedCents: p.amountCents, replayed };
        }
        if (charge.outcome === 'processing') {
          await purchases.notePaymentIntent(p.id, charge.paymentIntentId);
          return { status: 'processing', replayed };
        }
        logger.info({ purchase_id: p.id, reason: charge.reason }, 'saved payment method needs the customer; falling back to Checkout');
        await purchases.switchToCheckout(p.id, charge.paymentIntentId, charge.reason);
      } else {
        await purchases.switchToCheckout(p.id, null, 'no saved payment method any more');
      }
    }

    // The expiry is fixed by the purchase's creation, so a retried request sends Stripe the very
    // same parameters under the same idempotency key and gets the same session back.
    const expiresAt = new Date(p.createdAt.getTime() + deps.checkout.expiresMinutes * 60_000);
    if (expiresAt.getTime() - clock().getTime() < STRIPE_MIN_CHECKOUT_MS) {
      throw new AppError('GONE', 'This purchase is too old to open a payment page for; send POST /agent-credits again with a new Idempotency-Key');
    }
    const pack = packs.find((x) => x.id === p.packId);
    const session = await payments
      .createCheckout({
        purchaseId: p.id,
        ownerId: p.ownerId,
        packId: p.packId,
        credits: p.credits,
        customerId: p.customerId,
        amountCents: p.amountCents,
        currency: p.currency,
        expiresAt,
        successUrl: deps.checkout.successUrl,
        cancelUrl: deps.checkout.cancelUrl,
      })
      .catch(async (err: unknown) => {
        if (err instanceof PaymentProviderError) await purchases.noteFailure(p.id, err.message);
        return providerDown(err);
      });
    const pending = await purchases.markPending(p.id, { sessionId: session.sessionId, url: session.url, expiresAt: session.expiresAt });
    // A webhook may have completed it in between (a human paid within milliseconds).
    if (pending.status === 'completed') return completedReply(pending, replayed);
    if (!pack) logger.warn({ pack_id: p.packId }, 'purchase of a pack no longer configured');
    return { status: 'pending_payment', paymentUrl: session.url, expiresAt: session.expiresAt, replayed };
  }

  return {
    packs,
    purchasesEnabled: deps.payments !== null,

    async hasPaymentMethod(ownerId: string): Promise<boolean> {
      return !!(await purchases.customerOf(ownerId))?.defaultPaymentMethod;
    },

    /**
     * Spec 000 `POST /agent-credits`. An Idempotency-Key makes a retry answer the first
     * result (and finish what a failed attempt started) instead of buying a second pack.
     */
    async purchase(ownerId: string, packId: string, idempotencyKey?: string): Promise<PurchaseReply> {
      const payments = paymentsOrThrow();
      const pack = packs.find((x) => x.id === packId);
      if (!pack) throw new AppError('BAD_REQUEST', `pack_id must be one of: ${packs.map((x) => x.id).join(', ')}`);
      const sameKey = (p: Purchase) => {
        if (p.packId !== packId) throw new AppError('CONFLICT', `This Idempotency-Key was already used to buy the ${p.packId} pack`);
        return p;
      };
      if (idempotencyKey) {
        const prior = await purchases.byIdempotencyKey(ownerId, idempotencyKey);
        if (prior) return advance(payments, sameKey(prior), true);
      }
      const customer = await ensureCustomer(payments, ownerId);
      const { purchase, created } = await purchases.create({
        id: randomUUID(),
        ownerId,
        packId: pack.id,
        credits: pack.credits,
        amountCents: pack.priceCents,
        currency: CURRENCY,
        method: customer.defaultPaymentMethod ? 'saved_payment_method' : 'checkout',
        idempotencyKey: idempotencyKey ?? null,
        customerId: customer.customerId,
      });
      return advance(payments, sameKey(purchase), !created);
    },

    /**
     * `POST /stripe/webhook`: the signature is checked over the exact bytes Stripe sent, then
     * each event is handled once by its id, in one transaction with what it changes.
     */
    async handleWebhook(rawBody: Buffer, signature: string | undefined): Promise<WebhookOutcome> {
      if (!deps.payments) throw new AppError('UNAVAILABLE', 'Stripe is not configured on this platform (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET)');
      if (!signature) throw new AppError('BAD_REQUEST', 'Missing Stripe-Signature header');
      let event: StripeWebhookEvent;
      try {
        event = deps.payments.verifyWebhook(rawBody, signature);
      } catch (err) {
        if (err instanceof WebhookSignatureError) throw new AppError('BAD_REQUEST', `Invalid Stripe-Signature: ${err.message}`);
        throw err;
      }
      const o = event.object;
      const metadata = (o.metadata ?? {}) as Record<string, string>;
      const candidate = metadata.purchase_id ?? (typeof o.client_reference_id === 'string' ? o.client_reference_id : undefined);
      const purchaseId = candidate && UUID.test(candidate) ? candidate : null;

      switch (event.type) {
        case 'checkout.session.completed':
        case 'checkout.session.async_payment_succeeded':
        case 'checkout.session.expired':
        case 'payment_intent.succeeded':
          break;
        default:
          return { received: true, ignored: `event type ${event.type} is not used` };
      }

      return ledger.transaction(async (tx): Promise<WebhookOutcome> => {
        if (!(await purchases.claimStripeEvent(tx, event.id, event.type, purchaseId))) return { received: true, duplicate: true };

        // The card a Checkout kept for later (setup_future_usage) is what the next purchase charges.
        if (event.type === 'payment_intent.succeeded' && o.setup_future_usage === 'off_session' && typeof o.customer === 'string' && typeof o.payment_method === 'string') {
          await purchases.savePaymentMethod(tx, o.customer, o.payment_method, new Date(event.created * 1000));
        }
        const p = purchaseId ? await purchases.lock(tx, purchaseId) : null;
        if (!p) return { received: true, ignored: 'no purchase of this platform' };

        if (event.type === 'checkout.session.expired') {
          if (p.status === 'pending_payment' && p.checkoutSessionId === o.id) await purchases.markExpired(tx, p.id);
          return { received: true };
        }
        if (event.type === 'payment_intent.succeeded') {
          await complete(tx, p, { amountCents: Number(o.amount_received), currency: String(o.currency), paymentIntentId: String(o.id), checkoutSessionId: null });
          return { received: true };
        }
        // Checkout: paid now, or (bank transfers and the like) later with async_payment_succeeded.
        if (o.payment_status !== 'paid') return { received: true, ignored: `checkout session is ${String(o.payment_status)}` };
        await complete(tx, p, {
          amountCents: Number(o.amount_total),
          currency: String(o.currency),
          paymentIntentId: typeof o.payment_intent === 'string' ? o.payment_intent : null,
          checkoutSessionId: String(o.id),
        });
        return { received: true };
      });
    },
  };
}
export type CreditPurchaseService = ReturnType<typeof creditPurchaseService>;

/** ISO 8601 without milliseconds, as spec 000 writes `expires_at` ("2024-01-15T11:30:00Z"). */
export const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
