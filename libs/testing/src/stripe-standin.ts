import http from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';

/**
 * A local stand-in for the few Stripe endpoints the platform uses (DESIGN rule 4: Stripe's
 * servers cannot be reached from here, so Stripe's own SDK is pointed at this instead):
 *
 *   POST /v1/customers                      GET /v1/customers/:id
 *   POST /v1/checkout/sessions              GET /v1/checkout/sessions/:id
 *   POST /v1/payment_intents                GET /v1/payment_intents/:id
 *
 * It speaks Stripe's wire format: form-encoded requests with bracketed keys
 * (`metadata[purchase_id]=…`), `Authorization: Bearer sk_…`, `Idempotency-Key` replays, JSON
 * objects and `{"error": {type, code, message}}` errors with Stripe's status codes. Like
 * Stripe, it sends webhook events signed `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
 * "<t>.<payload>" under the endpoint secret>`.
 *
 * Payment methods follow Stripe's test names: `pm_card_visa` succeeds,
 * `pm_card_chargeDeclined` is declined (`card_declined`) and
 * `pm_card_authenticationRequired` needs the customer (`authentication_required`) when
 * charged off-session. A Checkout Session's `url` is a page here; posting its form, or
 * calling `completeCheckout`, pays it the way a human would on checkout.stripe.com.
 */

export const STRIPE_TEST_PAYMENT_METHODS = {
  visa: 'pm_card_visa',
  declined: 'pm_card_chargeDeclined',
  authenticationRequired: 'pm_card_authenticationRequired',
} as const;

type Json = Record<string, unknown>;

export interface StandInCustomer {
  id: string;
  object: 'customer';
  created: number;
  email: string | null;
  metadata: Record<string, string>;
  invoice_settings: { default_payment_method: string | null };
  livemode: false;
}

export interface StandInCheckoutSession {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number;
  amount_total: number;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string;
  customer: string | null;
  expires_at: number;
  livemode: false;
  metadata: Record<string, string>;
  mode: string;
  payment_intent: string | null;
  payment_status: 'unpaid' | 'paid';
  status: 'open' | 'complete' | 'expired';
  success_url: string | null;
  url: string | null;
  /** Not part of Stripe's object; what `payment_intent_data` asked for, applied on payment. */
  payment_intent_data?: { setup_future_usage?: string; metadata?: Record<string, string> };
}

export interface StandInPaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  created: number;
  currency: string;
  customer: string | null;
  latest_charge: string | null;
  livemode: false;
  metadata: Record<string, string>;
  payment_method: string | null;
  setup_future_usage: string | null;
  status: 'succeeded' | 'requires_payment_method' | 'requires_action' | 'canceled';
  last_payment_error: { code: string; decline_code?: string; message: string } | null;
}

export interface StripeEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: unknown };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

export interface StandInRequest {
  method: string;
  path: string;
  params: Json;
  idempotencyKey: string | null;
  status: number;
}

export interface Delivery {
  event: StripeEvent;
  status: number;
  body: string;
}

export interface StripeStandInOptions {
  /** The secret key requests must carry (`STRIPE_SECRET_KEY`). Default: a fresh `sk_test_…`. */
  secretKey?: string;
  /** The endpoint secret events are signed with (`STRIPE_WEBHOOK_SECRET`). Default: a fresh `whsec_…`. */
  webhookSecret?: string;
  /** Where events are sent; may be set later (`standIn.webhookUrl = …`). */
  webhookUrl?: string;
  port?: number;
}

export interface StripeStandIn {
  /** STRIPE_API_BASE for the SDK: http://127.0.0.1:<port>. */
  url: string;
  secretKey: string;
  webhookSecret: string;
  webhookUrl: string | undefined;
  /** While true, every API request answers 503 api_error, as Stripe does in an incident. */
  outage: boolean;
  /** The configuration a service reads to use this stand-in. */
  env(): { STRIPE_API_BASE: string; STRIPE_SECRET_KEY: string; STRIPE_WEBHOOK_SECRET: string };
  requests: StandInRequest[];
  customers: Map<string, StandInCustomer>;
  sessions: Map<string, StandInCheckoutSession>;
  paymentIntents: Map<string, StandInPaymentIntent>;
  /** Payment methods attached to each customer (Checkout with setup_future_usage attaches one). */
  attached: Map<string, Set<string>>;
  /** Every event built, in order. */
  events: StripeEvent[];
  /** The Checkout Session id inside a `payment_url` this stand-in issued. */
  sessionIdFromUrl(paymentUrl: string): string;
  /**
   * Pays an open Checkout Session as a human would: a succeeded PaymentIntent (its payment
   * method attached to the customer when the session asked for future off-session use),
   * then `payment_intent.succeeded` and `checkout.session.completed` sent to the webhook URL.
   */
  completeCheckout(sessionId: string, opts?: { paymentMethod?: string; deliver?: boolean }): Promise<{ session: StandInCheckoutSession; paymentIntent: StandInPaymentIntent; events: StripeEvent[]; deliveries: Delivery[] }>;
  /** Expires an open session and sends `checkout.session.expired`. */
  expireCheckout(sessionId: string, opts?: { deliver?: boolean }): Promise<{ event: StripeEvent; delivery?: Delivery }>;
  /** Builds an event as Stripe would (not delivered). */
  event(type: string, object: unknown): StripeEvent;
  /** Sends one event (again, if it was sent before) to the webhook URL, signed. */
  deliver(event: StripeEvent, opts?: { url?: string; secret?: string; timestamp?: number; signature?: string }): Promise<Delivery>;
  /** The `Stripe-Signature` header Stripe would send for this exact payload. */
  signatureHeader(payload: string, opts?: { secret?: string; timestamp?: number }): string;
  close(): Promise<void>;
}

const now = () => Math.floor(Date.now() / 1000);
const stripeId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
const API_VERSION = '2026-10-28.endive';

/** Stripe's form encoding: `a[b][0][c]=v` becomes { a: { b: [ { c: 'v' } ] } }. */
export function parseStripeForm(body: string): Json {
  const out: Json = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> | unknown[] = out;
    path.forEach((seg, i) => {
      const last = i === path.length - 1;
      const container = node as Record<string, unknown>;
      if (last) {
        container[seg] = value;
        return;
      }
      if (container[seg] === undefined) container[seg] = /^\d+$/.test(path[i + 1]) ? [] : {};
      node = container[seg] as Record<string, unknown>;
    });
  }
  return out;
}

class StripeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {
    super(String((body.error as Json | undefined)?.message ?? 'error'));
  }
}

const invalid = (message: string, param?: string) =>
  new StripeHttpError(400, { error: { type: 'invalid_request_error', message, ...(param ? { param } : {}) } });
const missing = (kind: string, id: string) =>
  new StripeHttpError(404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, param: 'id' } });

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown, param: string): number => {
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw invalid(`Invalid integer: ${String(v)}`, param);
  return Number(v);
};
const meta = (v: unknown): Record<string, string> => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : {});

export async function startStripeStandIn(opts: StripeStandInOptions = {}): Promise<StripeStandIn> {
  const secretKey = opts.secretKey ?? `sk_test_${randomBytes(18).toString('hex')}`;
  const webhookSecret = opts.webhookSecret ?? `whsec_${randomBytes(24).toString('hex')}`;
  const customers = new Map<string, StandInCustomer>();
  const sessions = new Map<string, StandInCheckoutSession>();
  const paymentIntents = new Map<string, StandInPaymentIntent>();
  const attached = new Map<string, Set<string>>();
  const events: StripeEvent[] = [];
  const requests: StandInRequest[] = [];
  /** Idempotency-Key → the first answer, replayed byte for byte as Stripe does. */
  const replays = new Map<string, { status: number; body: string }>();
  let base = '';

  function signatureHeader(payload: string, o: { secret?: string; timestamp?: number } = {}): string {
    const t = o.timestamp ?? now();
    const v1 = createHmac('sha256', o.secret ?? webhookSecret).update(`${t}.${payload}`, 'utf8').digest('hex');
    return `t=${t},v1=${v1}`;
  }

  function event(type: string, object: unknown): StripeEvent {
    const e: StripeEvent = {
      id: stripeId('evt'),
      object: 'event',
      api_version: API_VERSION,
      created: now(),
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    events.push(e);
    return e;
  }

  async function deliver(e: StripeEvent, o: { url?: string; secret?: string; timestamp?: number; signature?: string } = {}): Promise<Delivery> {
    const url = o.url ?? standIn.webhookUrl;
    if (!url) throw new Error('the Stripe stand-in has no webhook URL to deliver to');
    const payload = JSON.stringify(e, null, 2);
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        'stripe-signature': o.signature ?? signatureHeader(payload, o),
      },
      body: payload,
    });
    return { event: e, status: res.status, body: await res.text() };
  }

  function paySession(s: StandInCheckoutSession, paymentMethod: string): StandInPaymentIntent {
    if (s.status !== 'open') throw invalid(`This Checkout Session is ${s.status}`);
    if (paymentMethod !== STRIPE_TEST_PAYMENT_METHODS.visa) throw new StripeHttpError(402, { error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' } });
    const setup = s.payment_intent_data?.setup_future_usage ?? null;
    const pi: StandInPaymentIntent = {
      id: stripeId('pi'),
      object: 'payment_intent',
      amount: s.amount_total,
      amount_received: s.amount_total,
      created: now(),
      currency: s.currency,
      customer: s.customer,
      latest_charge: stripeId('ch'),
      livemode: false,
      metadata: { ...(s.payment_intent_data?.metadata ?? {}) },
      payment_method: paymentMethod,
      setup_future_usage: setup,
      status: 'succeeded',
      last_payment_error: null,
    };
    paymentIntents.set(pi.id, pi);
    if (setup && s.customer) attached.set(s.customer, (attached.get(s.customer) ?? new Set()).add(paymentMethod));
    Object.assign(s, { status: 'complete', payment_status: 'paid', payment_intent: pi.id, url: null });
    return pi;
  }

  const publicSession = (s: StandInCheckoutSession) => {
    const { payment_intent_data: _hidden, ...rest } = s;
    return rest;
  };

  function createCustomer(p: Json): StandInCustomer {
    const c: StandInCustomer = {
      id: stripeId('cus'),
      object: 'customer',
      created: now(),
      email: str(p.email),
      metadata: meta(p.metadata),
      invoice_settings: { default_payment_method: null },
      livemode: false,
    };
    customers.set(c.id, c);
    return c;
  }

  function createSession(p: Json): StandInCheckoutSession {
    if (p.mode !== 'payment') throw invalid('Only mode=payment is supported by this stand-in', 'mode');
    const items = Array.isArray(p.line_items) ? (p.line_items as Json[]) : [];
    if (!items.length) throw invalid('line_items is required in payment mode', 'line_items');
    let total = 0;
    let currency: string | null = null;
    items.forEach((item, i) => {
      const pd = item.price_data as Json | undefined;
      if (!pd) throw invalid('line_items need price_data in this stand-in', `line_items[${i}][price_data]`);
      const c = str(pd.currency)?.toLowerCase() ?? null;
      if (!c) throw invalid('Missing required param: currency', `line_items[${i}][price_data][currency]`);
      if (currency && c !== currency) throw invalid('All line items must share one currency', `line_items[${i}][price_data][currency]`);
      currency = c;
      total += int(pd.unit_amount, `line_items[${i}][price_data][unit_amount]`) * int(item.quantity ?? '1', `line_items[${i}][quantity]`);
    });
    const customer = str(p.customer);
    if (customer && !customers.has(customer)) throw missing('customer', customer);
    const created = now();
    const expiresAt = p.expires_at === undefined ? created + 24 * 3600 : int(p.expires_at, 'expires_at');
    // Stripe's rule: between 30 minutes and 24 hours after creation.
    if (expiresAt < created + 30 * 60 - 5 || expiresAt > created + 24 * 3600 + 5) {
      throw invalid('The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.', 'expires_at');
    }
    const pid = (p.payment_intent_data ?? {}) as Json;
    const id = stripeId('cs_test');
    const s: StandInCheckoutSession = {
      id,
      object: 'checkout.session',
      amount_subtotal: total,
      amount_total: total,
      cancel_url: str(p.cancel_url),
      client_reference_id: str(p.client_reference_id),
      created,
      currency: currency!,
      customer,
      expires_at: expiresAt,
      livemode: false,
      metadata: meta(p.metadata),
      mode: 'payment',
      payment_intent: null,
      payment_status: 'unpaid',
      status: 'open',
      success_url: str(p.success_url),
      url: `${base}/c/pay/${id}`,
      payment_intent_data: { setup_future_usage: str(pid.setup_future_usage) ?? undefined, metadata: meta(pid.metadata) },
    };
    sessions.set(id, s);
    return s;
  }

  function createPaymentIntent(p: Json): StandInPaymentIntent {
    const amount = int(p.amount, 'amount');
    if (amount < 50) throw invalid('Amount must be at least $0.50 usd', 'amount');
    const currency = str(p.currency)?.toLowerCase();
    if (!currency) throw invalid('Missing required param: currency.', 'currency');
    const customer = str(p.customer);
    if (customer && !customers.has(customer)) throw missing('customer', customer);
    const pm = str(p.payment_method);
    const confirm = p.confirm === 'true';
    const offSession = p.off_session === 'true';
    if (pm && customer && !attached.get(customer)?.has(pm)) {
      throw invalid(`The provided PaymentMethod ${pm} is not attached to customer ${customer}.`, 'payment_method');
    }
    const pi: StandInPaymentIntent = {
      id: stripeId('pi'),
      object: 'payment_intent',
      amount,
      amount_received: 0,
      created: now(),
      currency,
      customer,
      latest_charge: null,
      livemode: false,
      metadata: meta(p.metadata),
      payment_method: pm,
      setup_future_usage: str(p.setup_future_usage),
      status: 'requires_payment_method',
      last_payment_error: null,
    };
    paymentIntents.set(pi.id, pi);
    if (!confirm || !pm) return pi;
    const decline = (code: string, message: string, status: StandInPaymentIntent['status'], declineCode?: string) => {
      pi.status = status;
      pi.last_payment_error = { code, ...(declineCode ? { decline_code: declineCode } : {}), message };
      return new StripeHttpError(402, {
        error: { type: 'card_error', code, ...(declineCode ? { decline_code: declineCode } : {}), message, payment_intent: structuredClone(pi) },
      });
    };
    if (pm === STRIPE_TEST_PAYMENT_METHODS.declined) throw decline('card_declined', 'Your card was declined.', 'requires_payment_method', 'generic_decline');
    if (pm === STRIPE_TEST_PAYMENT_METHODS.authenticationRequired && offSession) {
      throw decline('authentication_required', 'Your card was declined. This transaction requires authentication.', 'requires_payment_method', 'authentication_required');
    }
    Object.assign(pi, { status: 'succeeded', amount_received: amount, latest_charge: stripeId('ch') });
    return pi;
  }

  function route(method: string, path: string, p: Json): Json {
    let m: RegExpMatchArray | null;
    if (method === 'POST' && path === '/v1/customers') return createCustomer(p) as unknown as Json;
    if (method === 'GET' && (m = path.match(/^\/v1\/customers\/([^/]+)$/))) {
      const c = customers.get(m[1]);
      if (!c) throw missing('customer', m[1]);
      return c as unknown as Json;
    }
    if (method === 'POST' && path === '/v1/checkout/sessions') return publicSession(createSession(p));
    if (method === 'GET' && (m = path.match(/^\/v1\/checkout\/sessions\/([^/]+)$/))) {
      const s = sessions.get(m[1]);
      if (!s) throw missing('checkout.session', m[1]);
      return publicSession(s);
    }
    if (method === 'POST' && path === '/v1/payment_intents') return createPaymentIntent(p) as unknown as Json;
    if (method === 'GET' && (m = path.match(/^\/v1\/payment_intents\/([^/]+)$/))) {
      const pi = paymentIntents.get(m[1]);
      if (!pi) throw missing('payment_intent', m[1]);
      return pi as unknown as Json;
    }
    throw new StripeHttpError(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` } });
  }

  async function completeCheckout(sessionId: string, o: { paymentMethod?: string; deliver?: boolean } = {}) {
    const s = sessions.get(sessionId);
    if (!s) throw new Error(`no Checkout Session ${sessionId}`);
    const pi = paySession(s, o.paymentMethod ?? STRIPE_TEST_PAYMENT_METHODS.visa);
    const out = [event('payment_intent.succeeded', pi), event('checkout.session.completed', publicSession(s))];
    const deliveries: Delivery[] = [];
    if (o.deliver !== false) for (const e of out) deliveries.push(await deliver(e));
    return { session: publicSession(s) as StandInCheckoutSession, paymentIntent: pi, events: out, deliveries };
  }

  async function expireCheckout(sessionId: string, o: { deliver?: boolean } = {}) {
    const s = sessions.get(sessionId);
    if (!s) throw new Error(`no Checkout Session ${sessionId}`);
    if (s.status !== 'open') throw new Error(`Checkout Session ${sessionId} is ${s.status}`);
    Object.assign(s, { status: 'expired', url: null });
    const e = event('checkout.session.expired', publicSession(s));
    return { event: e, delivery: o.deliver === false ? undefined : await deliver(e) };
  }

  const page = (s: StandInCheckoutSession) => `<!doctype html><meta charset="utf-8"><title>Stripe stand-in checkout</title>
<h1>Pay ${(s.amount_total / 100).toFixed(2)} ${s.currency.toUpperCase()}</h1>
<p>Local Stripe stand-in: no card is charged. Paying sends the signed webhook events a real Checkout would.</p>
<form method="post"><button type="submit">Pay with test card ${STRIPE_TEST_PAYMENT_METHODS.visa}</button></form>`;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://stand-in');
        const method = req.method ?? 'GET';
        const send = (status: number, body: string, type = 'application/json') => {
          res.statusCode = status;
          res.setHeader('content-type', type);
          res.setHeader('request-id', stripeId('req'));
          res.end(body);
        };

        // The hosted payment page a `payment_url` points at (not part of Stripe's API).
        const pay = url.pathname.match(/^\/c\/pay\/([^/]+)$/);
        if (pay) {
          const s = sessions.get(pay[1]);
          if (!s) return send(404, 'No such Checkout Session', 'text/plain');
          if (method === 'GET') return send(s.status === 'open' ? 200 : 410, s.status === 'open' ? page(s) : `This Checkout Session is ${s.status}`, 'text/html; charset=utf-8');
          try {
            await completeCheckout(s.id);
          } catch (err) {
            return send(err instanceof StripeHttpError ? err.status : 500, String((err as Error).message), 'text/plain');
          }
          if (s.success_url) {
            res.statusCode = 303;
            res.setHeader('location', s.success_url.replace('{CHECKOUT_SESSION_ID}', s.id));
            return res.end();
          }
          return send(200, 'Paid', 'text/plain');
        }

        const params = method === 'GET' ? parseStripeForm(url.search.slice(1)) : parseStripeForm(Buffer.concat(chunks).toString('utf8'));
        const idem = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null;
        const record = (status: number) => requests.push({ method, path: url.pathname, params, idempotencyKey: idem, status });

        if (standIn.outage) {
          record(503);
          return send(503, JSON.stringify({ error: { type: 'api_error', message: 'The Stripe stand-in is simulating an outage.' } }));
        }
        if (req.headers.authorization !== `Bearer ${secretKey}`) {
          record(401);
          return send(401, JSON.stringify({ error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } }));
        }
        const replayKey = idem && method === 'POST' ? `${url.pathname}\u0000${idem}` : null;
        const earlier = replayKey ? replays.get(replayKey) : undefined;
        if (earlier) {
          record(earlier.status);
          res.setHeader('idempotent-replayed', 'true');
          return send(earlier.status, earlier.body);
        }
        let status = 200;
        let body: string;
        try {
          body = JSON.stringify(route(method, url.pathname, params));
        } catch (err) {
          if (!(err instanceof StripeHttpError)) throw err;
          status = err.status;
          body = JSON.stringify(err.body);
        }
        // Stripe replays the first answer of a key, failures included (except 5xx).
        if (replayKey) replays.set(replayKey, { status, body });
        record(status);
        send(status, body);
      })().catch((err: unknown) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { type: 'api_error', message: String(err) } }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const standIn: StripeStandIn = {
    url: base,
    secretKey,
    webhookSecret,
    webhookUrl: opts.webhookUrl,
    outage: false,
    env: () => ({ STRIPE_API_BASE: base, STRIPE_SECRET_KEY: secretKey, STRIPE_WEBHOOK_SECRET: webhookSecret }),
    requests,
    customers,
    sessions,
    paymentIntents,
    attached,
    events,
    sessionIdFromUrl(paymentUrl) {
      const m = new URL(paymentUrl).pathname.match(/^\/c\/pay\/([^/]+)$/);
      if (!m) throw new Error(`${paymentUrl} is not a payment URL of this stand-in`);
      return m[1];
    },
    completeCheckout,
    expireCheckout,
    event,
    deliver,
    signatureHeader,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return standIn;
}
