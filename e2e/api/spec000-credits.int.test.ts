import { randomUUID } from 'node:crypto';
import { createEnvelope, AnyEnvelope } from '@platform/events';
import { eventually, startStripeStandIn, StripeStandIn } from '@platform/testing';
import { startPlatform, client, bearer, TestPlatform } from '../support/platform';

jest.setTimeout(90_000);

/**
 * Spec 000 "GET /agent-credits" and "POST /agent-credits", sent to the gateway as an agent
 * would, with Stripe's SDK in wallets pointed at the local Stripe stand-in, whose signed
 * webhook events also come in through the gateway (which must pass the body through unparsed).
 */
describe('spec 000 credits through the gateway', () => {
  let platform: TestPlatform;
  let stripe: StripeStandIn;
  let api: ReturnType<typeof client>;
  let key: string;
  let orgId: string;

  beforeAll(async () => {
    stripe = await startStripeStandIn();
    platform = await startPlatform('s000credits', stripe.env());
    stripe.webhookUrl = `${platform.url}/stripe/webhook`;
    api = client(platform.url);

    const onboard = await api.post('/agent-onboard', { agent_identity: 'my-agent/1.0.0', org_name: 'My Agent Org', project_name: 'default' });
    expect(onboard.status).toBe(201);
    key = onboard.body.data.api_key;
    orgId = onboard.body.data.org_id;
    expect(onboard.body._links.credits).toBe(`${new URL(onboard.body._links.credits).origin}/agent-credits`);
  });
  afterAll(async () => {
    await platform?.stop();
    await stripe?.close();
  });

  const credits = () => api.get('/agent-credits', bearer(key));

  it('GET /agent-credits: the balance after 100 free credits and one incident, exactly as the example', async () => {
    await eventually(async () => (await credits()).body?.data?.balance === 100);
    // An incident costs 5 credits (spec 000 "Credit Costs"); the runtime announces it as an event.
    const incident = createEnvelope('runtime', 'runtime.incident', orgId, { incident_id: randomUUID(), owner_id: orgId }) as AnyEnvelope;
    await platform.standalone.bus!.publish([incident]);
    await eventually(async () => (await credits()).body?.data?.balance === 95);

    const r = await credits();
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      ok: true,
      data: {
        balance: 95,
        lifetime_purchased: 100,
        lifetime_consumed: 5,
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

  it('POST /agent-credits without a payment method: a payment URL; Stripe\'s webhook, delivered three times, credits the pack once', async () => {
    const r = await api.post('/agent-credits', { pack_id: 'starter' }, bearer(key));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      ok: true,
      data: { status: 'pending_payment', payment_url: expect.stringContaining('/c/pay/cs_test_'), expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) },
    });

    // A human pays on the payment page; Stripe sends its events to /stripe/webhook through the gateway.
    const paid = await stripe.completeCheckout(stripe.sessionIdFromUrl(r.body.data.payment_url));
    expect(paid.deliveries.map((d) => [d.event.type, d.status])).toEqual([
      ['payment_intent.succeeded', 200],
      ['checkout.session.completed', 200],
    ]);
    const completed = paid.events[1];
    const again = [await stripe.deliver(completed), await stripe.deliver(completed)];
    expect(again.map((d) => [d.status, JSON.parse(d.body)])).toEqual([
      [200, { received: true, duplicate: true }],
      [200, { received: true, duplicate: true }],
    ]);

    const after = await credits();
    expect(after.body.data).toMatchObject({ balance: 5095, lifetime_purchased: 5100, lifetime_consumed: 5, has_payment_method: true });
  });

  it('POST /agent-credits with the payment method on file: charged immediately', async () => {
    const r = await api.post('/agent-credits', { pack_id: 'starter' }, bearer(key));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, data: { status: 'completed', credits_added: 5000, new_balance: 10095, amount_charged_usd: 50 } });
    expect((await credits()).body.data.balance).toBe(10095);
  });

  it('answers errors in the spec 000 shape, and a forged Stripe event with 400, changing nothing', async () => {
    const noKey = await api.get('/agent-credits');
    expect(noKey.status).toBe(401);
    expect(noKey.body).toMatchObject({ ok: false, error: { code: 'unauthorized', message: expect.any(String) } });

    const badPack = await api.post('/agent-credits', { pack_id: 'platinum' }, bearer(key));
    expect(badPack.status).toBe(400);
    expect(badPack.body).toMatchObject({ ok: false, error: { code: 'bad_request', message: 'pack_id must be one of: starter, growth, scale' } });

    const noPack = await api.post('/agent-credits', {}, bearer(key));
    expect(noPack.status).toBe(400);
    expect(noPack.body).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining('pack_id is required') } });

    const forged = stripe.event('checkout.session.completed', { id: 'cs_forged', object: 'checkout.session', payment_status: 'paid', amount_total: 5000, currency: 'usd', metadata: {} });
    const refused = await stripe.deliver(forged, { secret: 'whsec_guessed' });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toMatchObject({ error: expect.stringMatching(/^Invalid Stripe-Signature/) });

    expect((await credits()).body.data).toMatchObject({ balance: 10095, lifetime_purchased: 10100, lifetime_consumed: 5 });
  });
});
