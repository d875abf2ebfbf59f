import { eventually, STRIPE_TEST_PAYMENT_METHODS, StripeStandIn } from '@platform/testing';
import type { Wallets } from './helpers';
import { driftedAccounts, unbalancedEntries, startWallets } from './helpers';
import { buyCredits, creditState, getCredits, onboardOrg, startWalletsWithStripe, creditsBalance } from './credits.support';

jest.setTimeout(60_000);

/** Spec 000 credits: GET /agent-credits and POST /agent-credits with Stripe's SDK against the local stand-in. */
describe('credit purchases', () => {
  let w: Wallets;
  let stripe: StripeStandIn;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ w, stripe, stop } = await startWalletsWithStripe());
  });
  afterAll(() => stop?.());

  const payPending = async (paymentUrl: string) => {
    const paid = await stripe.completeCheckout(stripe.sessionIdFromUrl(paymentUrl));
    expect(paid.deliveries.map((d) => d.status)).toEqual([200, 200]);
    return paid;
  };

  it('answers the balance, usage, pricing and packs as spec 000 shows', async () => {
    await onboardOrg(w, 'org-get');
    const r = await getCredits(w, 'org-get');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      ok: true,
      data: {
        balance: 100,
        lifetime_purchased: 100,
        lifetime_consumed: 0,
        has_payment_method: false,
        pricing: { validate_call: 1, incident_created: 5, webhook_sent: 2 },
        packs: [
          { id: 'starter', credits: 5000, price_usd: 50 },
          { id: 'growth', credits: 22000, price_usd: 200 },
          { id: 'scale', credits: 120000, price_usd: 1000 },
        ],
      },
    });
  });

  it('without a payment method answers pending_payment with a Checkout URL; the webhook then credits the pack and keeps the card', async () => {
    await onboardOrg(w, 'org-a');
    const before = Date.now();
    const r = await buyCredits(w, 'org-a', { pack_id: 'starter' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      ok: true,
      data: { status: 'pending_payment', payment_url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/c\/pay\/cs_test_/), expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) },
    });
    // CREDITS_CHECKOUT_EXPIRES_MIN (60) after the purchase was created.
    const expires = Date.parse(r.body.data.expires_at);
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 59 * 60_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 60 * 60_000);

    // What Stripe was asked for: one line of $50.00, the org's customer, the card kept for later.
    const session = stripe.sessions.get(stripe.sessionIdFromUrl(r.body.data.payment_url))!;
    expect(session).toMatchObject({ amount_total: 5000, currency: 'usd', mode: 'payment', status: 'open' });
    const purchase = await w.svc.db.creditPurchase.findFirstOrThrow({ where: { ownerId: 'org-a' } });
    expect(purchase).toMatchObject({ status: 'pending_payment', packId: 'starter', credits: 5000n, amountCents: 5000n, checkoutSessionId: session.id });
    expect(session.metadata).toEqual({ purchase_id: purchase.id, owner_id: 'org-a', pack_id: 'starter' });
    expect(session.client_reference_id).toBe(purchase.id);
    expect(stripe.customers.get(session.customer!)!.metadata).toEqual({ owner_id: 'org-a' });
    const create = stripe.requests.find((q) => q.path === '/v1/checkout/sessions')!;
    expect(create.params.payment_intent_data).toEqual({ setup_future_usage: 'off_session', metadata: session.metadata });
    expect(create.idempotencyKey).toBe(`credit-purchase:${purchase.id}:checkout`);
    expect(await creditsBalance(w, 'org-a')).toBe(100n);

    await payPending(r.body.data.payment_url);
    const after = await getCredits(w, 'org-a');
    expect(after.body.data).toMatchObject({ balance: 5100, lifetime_purchased: 5100, lifetime_consumed: 0, has_payment_method: true });
    expect(await w.svc.db.creditPurchase.findUniqueOrThrow({ where: { id: purchase.id } })).toMatchObject({ status: 'completed', completedAt: expect.any(Date) });
    const purchased = await w.svc.db.outboxEvent.findMany({ where: { type: 'credits.purchased' } });
    expect(purchased.map((e) => (e.envelope as { data: unknown }).data)).toEqual([
      { purchase_id: purchase.id, owner_id: 'org-a', pack_id: 'starter', credits: 5000, amount_cents: 5000, currency: 'usd', method: 'checkout' },
    ]);
    const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: `credit_purchase:${purchase.id}` }, include: { postings: { include: { account: true } } } });
    expect(entry.kind).toBe('credit_purchase');
    expect(entry.postings.map((p) => [p.account.kind, p.amount]).sort()).toEqual([
      ['credit_sales', -5000n],
      ['credits', 5000n],
    ]);
  });

  it('with the saved payment method charges at once, off-session, and credits the pack', async () => {
    const r = await buyCredits(w, 'org-a', { pack_id: 'growth' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, data: { status: 'completed', credits_added: 22000, new_balance: 27100, amount_charged_usd: 200 } });

    const charge = stripe.requests.filter((q) => q.path === '/v1/payment_intents').at(-1)!;
    const purchase = await w.svc.db.creditPurchase.findFirstOrThrow({ where: { ownerId: 'org-a', packId: 'growth' } });
    expect(charge.params).toMatchObject({
      amount: '20000',
      currency: 'usd',
      customer: purchase.customerId,
      payment_method: STRIPE_TEST_PAYMENT_METHODS.visa,
      off_session: 'true',
      confirm: 'true',
      metadata: { purchase_id: purchase.id, owner_id: 'org-a', pack_id: 'growth' },
    });
    expect(charge.idempotencyKey).toBe(`credit-purchase:${purchase.id}:charge`);
    expect(purchase).toMatchObject({ status: 'completed', method: 'saved_payment_method', paymentIntentId: expect.stringMatching(/^pi_/) });

    // Stripe also announces that PaymentIntent; the purchase is already credited, so nothing changes.
    const state = await creditState(w);
    const pi = stripe.paymentIntents.get(purchase.paymentIntentId!)!;
    const d = await stripe.deliver(stripe.event('payment_intent.succeeded', pi));
    expect(d.status).toBe(200);
    expect({ ...(await creditState(w)), stripeEvents: state.stripeEvents }).toEqual(state);
    expect(await creditsBalance(w, 'org-a')).toBe(27100n);
  });

  it('answers a retried purchase with its first result and charges once (Idempotency-Key)', async () => {
    const first = await buyCredits(w, 'org-a', { pack_id: 'starter' }, 'buy-1');
    expect(first.body.data).toEqual({ status: 'completed', credits_added: 5000, new_balance: 32100, amount_charged_usd: 50 });
    const charges = stripe.requests.filter((q) => q.path === '/v1/payment_intents').length;

    const again = await Promise.all([1, 2, 3].map(() => buyCredits(w, 'org-a', { pack_id: 'starter' }, 'buy-1')));
    for (const r of again) {
      expect(r.status).toBe(200);
      expect(r.headers.get('idempotent-replayed')).toBe('true');
      expect(r.body.data).toEqual(first.body.data);
    }
    expect(stripe.requests.filter((q) => q.path === '/v1/payment_intents')).toHaveLength(charges);
    expect(await creditsBalance(w, 'org-a')).toBe(32100n);

    const other = await buyCredits(w, 'org-a', { pack_id: 'growth' }, 'buy-1');
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ ok: false, error: { code: 'conflict', message: expect.stringContaining('starter') } });
    // The key is the owner's own: another org using it buys its own pack.
    await onboardOrg(w, 'org-b');
    const b = await buyCredits(w, 'org-b', { pack_id: 'starter' }, 'buy-1');
    expect(b.body.data.status).toBe('pending_payment');
  });

  it('falls back to Checkout when the saved card is declined off-session', async () => {
    await onboardOrg(w, 'org-decline');
    const first = await buyCredits(w, 'org-decline', { pack_id: 'starter' });
    const paid = await payPending(first.body.data.payment_url);
    expect(await creditsBalance(w, 'org-decline')).toBe(5100n);

    // Later the customer saves another card (a newer Checkout); this one the bank declines.
    const customer = paid.session.customer!;
    stripe.attached.get(customer)!.add(STRIPE_TEST_PAYMENT_METHODS.declined);
    const newer = stripe.event('payment_intent.succeeded', { ...paid.paymentIntent, id: 'pi_newer', payment_method: STRIPE_TEST_PAYMENT_METHODS.declined, metadata: {} });
    expect((await stripe.deliver(newer)).status).toBe(200);
    expect((await w.svc.db.stripeCustomer.findUniqueOrThrow({ where: { ownerId: 'org-decline' } })).defaultPaymentMethod).toBe(STRIPE_TEST_PAYMENT_METHODS.declined);
    // An older event delivered late does not bring the old card back.
    const older = stripe.event('payment_intent.succeeded', { ...paid.paymentIntent, id: 'pi_older', metadata: {} });
    older.created = newer.created - 60;
    expect((await stripe.deliver(older)).status).toBe(200);
    expect((await w.svc.db.stripeCustomer.findUniqueOrThrow({ where: { ownerId: 'org-decline' } })).defaultPaymentMethod).toBe(STRIPE_TEST_PAYMENT_METHODS.declined);

    const r = await buyCredits(w, 'org-decline', { pack_id: 'starter' });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ status: 'pending_payment', payment_url: expect.any(String), expires_at: expect.any(String) });
    const purchase = await w.svc.db.creditPurchase.findFirstOrThrow({ where: { ownerId: 'org-decline', status: 'pending_payment' } });
    expect(purchase).toMatchObject({ method: 'checkout', failureReason: expect.stringContaining('card_declined') });
    expect(await creditsBalance(w, 'org-decline')).toBe(5100n);

    // The human pays with a good card: credited, and that card is the saved one again.
    await payPending(r.body.data.payment_url);
    expect(await creditsBalance(w, 'org-decline')).toBe(10100n);
    expect((await w.svc.db.stripeCustomer.findUniqueOrThrow({ where: { ownerId: 'org-decline' } })).defaultPaymentMethod).toBe(STRIPE_TEST_PAYMENT_METHODS.visa);
  });

  it('refuses bad input with the spec 000 error shape and changes nothing', async () => {
    const state = await creditState(w);
    const requests = stripe.requests.length;
    const cases: [unknown, Record<string, string> | undefined, number, RegExp][] = [
      [{}, undefined, 400, /pack_id is required/],
      [{ pack_id: 7 }, undefined, 400, /pack_id/],
      [{ pack_id: 'platinum' }, undefined, 400, /pack_id must be one of: starter, growth, scale/],
      ['{"pack_id": ', undefined, 400, /not valid JSON/],
      [{ pack_id: 'starter' }, { 'idempotency-key': 'has spaces' }, 400, /Idempotency-Key/],
    ];
    for (const [body, headers, status, message] of cases) {
      const r = await buyCredits(w, 'org-a', body, headers?.['idempotency-key']);
      expect(r.status).toBe(status);
      expect(r.body).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(message) } });
    }
    const anonymous = await fetch(`${w.url}/agent-credits`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    expect(await creditState(w)).toEqual(state);
    expect(stripe.requests).toHaveLength(requests);
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  it('answers 502 and credits nothing while Stripe is down; retrying with the same key then charges once', async () => {
    const balance = await creditsBalance(w, 'org-a');
    stripe.outage = true;
    const r = await buyCredits(w, 'org-a', { pack_id: 'starter' }, 'outage-1');
    stripe.outage = false;
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ ok: false, error: { code: 'bad_gateway', message: expect.stringMatching(/nothing was charged/) } });
    expect(await creditsBalance(w, 'org-a')).toBe(balance);
    const purchase = await w.svc.db.creditPurchase.findUniqueOrThrow({ where: { ownerId_idempotencyKey: { ownerId: 'org-a', idempotencyKey: 'outage-1' } } });
    expect(purchase).toMatchObject({ status: 'created', failureReason: expect.stringMatching(/api_error/) });

    const again = await buyCredits(w, 'org-a', { pack_id: 'starter' }, 'outage-1');
    expect(again.status).toBe(200);
    expect(again.body.data).toEqual({ status: 'completed', credits_added: 5000, new_balance: Number(balance) + 5000, amount_charged_usd: 50 });
    const charged = stripe.requests.filter((q) => q.path === '/v1/payment_intents' && q.status === 200 && (q.params.metadata as { purchase_id?: string }).purchase_id === purchase.id);
    expect(charged).toHaveLength(1);
    expect(await creditsBalance(w, 'org-a')).toBe(balance + 5000n);
  });

  it('expires a purchase whose Checkout expired; retrying its key is 410', async () => {
    await onboardOrg(w, 'org-expire');
    const r = await buyCredits(w, 'org-expire', { pack_id: 'starter' }, 'exp-1');
    const sessionId = stripe.sessionIdFromUrl(r.body.data.payment_url);
    const { delivery } = await stripe.expireCheckout(sessionId);
    expect(delivery!.status).toBe(200);
    await eventually(async () => (await w.svc.db.creditPurchase.findFirst({ where: { ownerId: 'org-expire' } }))?.status === 'expired');
    const again = await buyCredits(w, 'org-expire', { pack_id: 'starter' }, 'exp-1');
    expect(again.status).toBe(410);
    expect(again.body).toMatchObject({ ok: false, error: { code: 'gone', message: expect.stringMatching(/expired/) } });
    expect(await creditsBalance(w, 'org-expire')).toBe(100n);
  });
});

describe('credit purchases without Stripe configured', () => {
  let w: Wallets;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    w = await startWallets();
    stop = () => w.stop();
  });
  afterAll(() => stop?.());

  it('still answers balances, refuses purchases with a clear 503, and refuses Stripe webhooks', async () => {
    await onboardOrg(w, 'org-nostripe');
    expect((await getCredits(w, 'org-nostripe')).body.data).toMatchObject({ balance: 100, has_payment_method: false });
    const r = await buyCredits(w, 'org-nostripe', { pack_id: 'starter' });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ ok: false, error: { code: 'unavailable', message: expect.stringMatching(/STRIPE_SECRET_KEY/) } });
    const hook = await fetch(`${w.url}/stripe/webhook`, { method: 'POST', body: '{}', headers: { 'stripe-signature': 't=1,v1=00' } });
    expect(hook.status).toBe(503);
    expect(await hook.json()).toMatchObject({ error: expect.stringMatching(/Stripe is not configured/) });
    expect(await w.svc.db.creditPurchase.count()).toBe(0);
  });
});
