import { createHash } from 'node:crypto';
import Stripe from 'stripe';

/**
 * The payment port credit purchases use, implemented with Stripe's own SDK. In tests and
 * wherever Stripe's servers are out of reach, STRIPE_API_BASE points the SDK at a local
 * stand-in that speaks the same HTTP API (@platform/testing startStripeStandIn).
 */
export interface PaymentProvider {
  /** The owner's Stripe customer; the same one however often (Stripe idempotency key per owner). */
  createCustomer(ownerId: string): Promise<{ customerId: string }>;
  /** Charges a saved payment method now, without the customer present (PaymentIntent, confirm + off_session). */
  chargeSaved(c: ChargeRequest): Promise<ChargeResult>;
  /** A hosted Checkout page for a human to pay; the card is kept on the customer for later off-session charges. */
  createCheckout(c: CheckoutRequest): Promise<{ sessionId: string; url: string; expiresAt: Date }>;
  /** Verifies `Stripe-Signature` over the exact raw body and parses the event; throws WebhookSignatureError. */
  verifyWebhook(rawBody: Buffer, signature: string): StripeWebhookEvent;
}

export interface ChargeRequest {
  purchaseId: string;
  ownerId: string;
  packId: string;
  customerId: string;
  paymentMethod: string;
  amountCents: number;
  currency: string;
}

export type ChargeResult =
  | { outcome: 'succeeded'; paymentIntentId: string; amountReceived: number }
  /** Stripe will settle it later; payment_intent.succeeded completes the purchase. */
  | { outcome: 'processing'; paymentIntentId: string }
  /** Declined, or the bank wants the customer present: a human must pay through Checkout. */
  | { outcome: 'needs_customer'; paymentIntentId: string | null; reason: string };

export interface CheckoutRequest {
  purchaseId: string;
  ownerId: string;
  packId: string;
  credits: number;
  customerId: string;
  amountCents: number;
  currency: string;
  expiresAt: Date;
  successUrl: string;
  cancelUrl: string;
}

export interface StripeWebhookEvent {
  id: string;
  type: string;
  created: number;
  object: Record<string, unknown>;
}

/** Stripe could not be reached or refused the request for a reason other than the card. */
export class PaymentProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PaymentProviderError';
  }
}

export class WebhookSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookSignatureError';
  }
}

export interface StripeClientOptions {
  secretKey: string;
  webhookSecret: string;
  apiBase: string;
  timeoutMs: number;
}

/**
 * Stripe idempotency keys are at most 255 characters; owner ids are hashed so any id fits
 * and two owners never share a key.
 */
const ownerKey = (ownerId: string) => createHash('sha256').update(ownerId).digest('hex').slice(0, 40);

export function stripePayments(opts: StripeClientOptions): PaymentProvider {
  const base = new URL(opts.apiBase);
  const stripe = new Stripe(opts.secretKey, {
    host: base.hostname,
    port: base.port ? Number(base.port) : base.protocol === 'http:' ? 80 : 443,
    protocol: base.protocol === 'http:' ? 'http' : 'https',
    timeout: opts.timeoutMs,
    // Every POST carries its own idempotency key, so the SDK's retry can never charge twice.
    maxNetworkRetries: 1,
    appInfo: { name: 'agent-commerce-wallets' },
  });

  const providerError = (what: string, err: unknown) =>
    new PaymentProviderError(`${what}: ${err instanceof Stripe.errors.StripeError ? `${err.rawType ?? err.type} (${err.statusCode ?? 'no status'}) ${err.message}` : String(err)}`);

  return {
    async createCustomer(ownerId) {
      try {
        const c = await stripe.customers.create({ metadata: { owner_id: ownerId } }, { idempotencyKey: `customer:${ownerKey(ownerId)}` });
        return { customerId: c.id };
      } catch (err) {
        throw providerError('creating the Stripe customer failed', err);
      }
    },

    async chargeSaved(c) {
      try {
        const pi = await stripe.paymentIntents.create(
          {
            amount: c.amountCents,
            currency: c.currency,
            customer: c.customerId,
            payment_method: c.paymentMethod,
            off_session: true,
            confirm: true,
            description: `Credit pack ${c.packId}`,
            metadata: { purchase_id: c.purchaseId, owner_id: c.ownerId, pack_id: c.packId },
          },
          { idempotencyKey: `credit-purchase:${c.purchaseId}:charge` },
        );
        if (pi.status === 'succeeded') return { outcome: 'succeeded', paymentIntentId: pi.id, amountReceived: pi.amount_received };
        if (pi.status === 'processing') return { outcome: 'processing', paymentIntentId: pi.id };
        return { outcome: 'needs_customer', paymentIntentId: pi.id, reason: `payment intent is ${pi.status}` };
      } catch (err) {
        // Off-session declines and authentication_required are card errors (402) carrying the PaymentIntent.
        if (err instanceof Stripe.errors.StripeCardError) {
          return { outcome: 'needs_customer', paymentIntentId: err.payment_intent?.id ?? null, reason: `${err.code ?? 'card_error'}: ${err.message}` };
        }
        if (err instanceof Stripe.errors.StripeInvalidRequestError && err.param === 'payment_method') {
          return { outcome: 'needs_customer', paymentIntentId: null, reason: `saved payment method unusable: ${err.message}` };
        }
        throw providerError('charging the saved payment method failed', err);
      }
    },

    async createCheckout(c) {
      try {
        const metadata = { purchase_id: c.purchaseId, owner_id: c.ownerId, pack_id: c.packId };
        const s = await stripe.checkout.sessions.create(
          {
            mode: 'payment',
            customer: c.customerId,
            client_reference_id: c.purchaseId,
            line_items: [
              {
                quantity: 1,
                price_data: {
                  currency: c.currency,
                  unit_amount: c.amountCents,
                  product_data: { name: `${c.credits.toLocaleString('en-US')} credits (${c.packId} pack)` },
                },
              },
            ],
            // The card paid with is kept for later: the next purchase is charged at once.
            payment_intent_data: { setup_future_usage: 'off_session', metadata },
            metadata,
            expires_at: Math.floor(c.expiresAt.getTime() / 1000),
            success_url: c.successUrl,
            cancel_url: c.cancelUrl,
          },
          { idempotencyKey: `credit-purchase:${c.purchaseId}:checkout` },
        );
        if (!s.url) throw new PaymentProviderError('Stripe answered a Checkout Session without a url');
        return { sessionId: s.id, url: s.url, expiresAt: new Date(s.expires_at * 1000) };
      } catch (err) {
        if (err instanceof PaymentProviderError) throw err;
        throw providerError('creating the Checkout Session failed', err);
      }
    },

    verifyWebhook(rawBody, signature) {
      let e: Stripe.Event;
      try {
        e = stripe.webhooks.constructEvent(rawBody, signature, opts.webhookSecret);
      } catch (err) {
        throw new WebhookSignatureError(err instanceof Error ? err.message : String(err));
      }
      return { id: e.id, type: e.type, created: e.created, object: e.data.object as unknown as Record<string, unknown> };
    },
  };
}
