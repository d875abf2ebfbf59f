import { StripeStandIn } from '@platform/testing';
import type { Wallets } from './helpers';
import { driftedAccounts, unbalancedEntries } from './helpers';
import { buyCredits, creditState, creditsBalance, onboardOrg, startWalletsWithStripe } from './credits.support';

jest.setTimeout(60_000);

/** `POST /stripe/webhook`: verified with Stripe's SDK, and a purchase is credited exactly once. */
describe('Stripe webhook', () => {
  let w: Wallets;
  let stripe: StripeStandIn;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ w, stripe, stop } = await startWalletsWithStripe());
  });
  afterAll(() => stop?.());

  /** A pending purchase of `pack` and the events Stripe would send once a human pays (not delivered yet). */
  async function paidButUndelivered(orgId: string, pack = 'starter') {
    await onboardOrg(w, orgId);
    const r = await buyCredits(w, orgId, { pack_id: pack });
    expect(r.body.data.status).toBe('pending_payment');
    const paid = await stripe.completeCheckout(stripe.sessionIdFromUrl(r.body.data.payment_url), { deliver: false });
    const [intentSucceeded, sessionCompleted] = paid.events;
    return { intentSucceeded, sessionCompleted, paid };
  }

  it('credits the pack once when checkout.session.completed is delivered three times', async () => {
    const { sessionCompleted } = await paidButUndelivered('org-thrice');
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await stripe.deliver(sessionCompleted));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(JSON.parse(replies[0].body)).toEqual({ received: true });
    expect(JSON.parse(replies[1].body)).toEqual({ received: true, duplicate: true });
    expect(JSON.parse(replies[2].body)).toEqual({ received: true, duplicate: true });

    expect(await creditsBalance(w, 'org-thrice')).toBe(5100n);
    expect(await w.svc.db.ledgerEntry.count({ where: { kind: 'credit_purchase', metadata: { path: ['owner_id'], equals: 'org-thrice' } } })).toBe(1);
    expect(await w.svc.db.outboxEvent.count({ where: { type: 'credits.purchased', subject: 'org-thrice' } })).toBe(1);
    const purchase = await w.svc.db.creditPurchase.findFirstOrThrow({ where: { ownerId: 'org-thrice' } });
    expect(await w.svc.db.stripeEvent.findMany({ where: { purchaseId: purchase.id } })).toEqual([
      { eventId: sessionCompleted.id, type: 'checkout.session.completed', purchaseId: purchase.id, receivedAt: expect.any(Date) },
    ]);
  });

  it('credits once when the same event arrives three times at once, and with the PaymentIntent event racing it', async () => {
    const { sessionCompleted, intentSucceeded } = await paidButUndelivered('org-race', 'growth');
    const replies = await Promise.all([
      stripe.deliver(sessionCompleted),
      stripe.deliver(sessionCompleted),
      stripe.deliver(sessionCompleted),
      stripe.deliver(intentSucceeded),
      stripe.deliver(intentSucceeded),
    ]);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const bodies = replies.map((r) => JSON.parse(r.body));
    expect(bodies.slice(0, 3).filter((b) => !b.duplicate)).toHaveLength(1);
    expect(bodies.slice(3).filter((b) => !b.duplicate)).toHaveLength(1);

    expect(await creditsBalance(w, 'org-race')).toBe(22100n);
    expect(await w.svc.db.ledgerEntry.count({ where: { kind: 'credit_purchase', metadata: { path: ['owner_id'], equals: 'org-race' } } })).toBe(1);
    expect(await w.svc.db.outboxEvent.count({ where: { type: 'credits.purchased', subject: 'org-race' } })).toBe(1);
    expect((await w.svc.db.creditPurchase.findFirstOrThrow({ where: { ownerId: 'org-race' } })).status).toBe('completed');
    // The PaymentIntent event also saved the card for the next purchase.
    expect((await w.svc.db.stripeCustomer.findUniqueOrThrow({ where: { ownerId: 'org-race' } })).defaultPaymentMethod).toBe('pm_card_visa');
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  it('refuses a bad, missing, stale or tampered signature with 400 and changes nothing', async () => {
    const { sessionCompleted } = await paidButUndelivered('org-forged');
    const state = await creditState(w);
    const payload = JSON.stringify(sessionCompleted);
    const post = (body: string, signature?: string) =>
      fetch(`${w.url}/stripe/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', ...(signature ? { 'stripe-signature': signature } : {}) }, body });

    const wrongSecret = await stripe.deliver(sessionCompleted, { secret: 'whsec_not_the_endpoint_secret' });
    expect(wrongSecret.status).toBe(400);
    expect(JSON.parse(wrongSecret.body)).toMatchObject({ error: expect.stringMatching(/^Invalid Stripe-Signature: No signatures found/) });

    const stale = await stripe.deliver(sessionCompleted, { timestamp: Math.floor(Date.now() / 1000) - 3_600 });
    expect(stale.status).toBe(400);
    expect(JSON.parse(stale.body)).toMatchObject({ error: expect.stringMatching(/tolerance/) });

    // A valid signature of the real payload does not cover a changed amount.
    const tampered = JSON.parse(payload);
    tampered.data.object.amount_total = 1;
    const t = await post(JSON.stringify(tampered), stripe.signatureHeader(payload));
    expect(t.status).toBe(400);
    expect(await t.json()).toMatchObject({ error: expect.stringMatching(/Invalid Stripe-Signature/) });

    const missing = await post(payload);
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'Missing Stripe-Signature header' });

    const garbage = await post(payload, 'not-a-signature');
    expect(garbage.status).toBe(400);

    expect(await creditState(w)).toEqual(state);
    expect(await creditsBalance(w, 'org-forged')).toBe(100n);

    // The genuine delivery still works afterwards.
    expect((await stripe.deliver(sessionCompleted)).status).toBe(200);
    expect(await creditsBalance(w, 'org-forged')).toBe(5100n);
  });

  it('acknowledges and ignores event types it does not use, and events about purchases it does not know', async () => {
    const state = await creditState(w);
    const unknown = await stripe.deliver(stripe.event('customer.created', { id: 'cus_x', object: 'customer' }));
    expect(unknown.status).toBe(200);
    expect(JSON.parse(unknown.body)).toEqual({ received: true, ignored: 'event type customer.created is not used' });
    expect(await creditState(w)).toEqual(state);

    const foreign = await stripe.deliver(
      stripe.event('checkout.session.completed', { id: 'cs_other_app', object: 'checkout.session', payment_status: 'paid', amount_total: 5000, currency: 'usd', metadata: { order: '42' } }),
    );
    expect(foreign.status).toBe(200);
    expect(JSON.parse(foreign.body)).toEqual({ received: true, ignored: 'no purchase of this platform' });
    expect({ ...(await creditState(w)), stripeEvents: state.stripeEvents }).toEqual(state);
  });

  it('does not credit a signed event whose amount differs from the purchase, nor an unpaid session', async () => {
    const { sessionCompleted } = await paidButUndelivered('org-mismatch');
    const cheap = stripe.event('checkout.session.completed', { ...(sessionCompleted.data.object as object), amount_total: 100 });
    expect((await stripe.deliver(cheap)).status).toBe(200);
    const unpaid = stripe.event('checkout.session.completed', { ...(sessionCompleted.data.object as object), payment_status: 'unpaid' });
    expect(JSON.parse((await stripe.deliver(unpaid)).body)).toEqual({ received: true, ignored: 'checkout session is unpaid' });
    expect(await creditsBalance(w, 'org-mismatch')).toBe(100n);
    const p = await w.svc.db.creditPurchase.findFirstOrThrow({ where: { ownerId: 'org-mismatch' } });
    expect(p).toMatchObject({ status: 'pending_payment', failureReason: 'paid 100 usd, expected 5000 usd' });

    // Stripe's real event for the payment completes it.
    expect((await stripe.deliver(sessionCompleted)).status).toBe(200);
    expect(await creditsBalance(w, 'org-mismatch')).toBe(5100n);
  });
});
