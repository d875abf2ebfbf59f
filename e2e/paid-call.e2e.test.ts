import { createHmac } from 'node:crypto';
import { serviceToken } from '@platform/auth';
import { startUpstream, Upstream, eventually } from '@platform/testing';
import { Fleet } from './support/fleet';

/**
 * The first paid call, end to end, in fleet mode: each service and the gateway a separate
 * process, real Kafka, PostgreSQL and Redis. Then the fleet's failure behaviour: a stopped
 * service answers 503 at the gateway while the rest serve, and events produced while Kafka
 * is down are delivered once it returns.
 */
jest.setTimeout(240_000);

const fleet = new Fleet();
let provider: Upstream;
let receiver: Upstream;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (res: Response) => ({ status: res.status, headers: res.headers, body: (await res.json().catch(() => null)) as any });
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(json);
const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers }).then(json);
const internal = () => ({ 'x-internal-principal': serviceToken('e2e', fleet.secret) });

beforeAll(async () => {
  provider = await startUpstream((req, body, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ sentiment: 'positive', path: req.url, received: body ? JSON.parse(body) : null }));
  });
  receiver = await startUpstream((_req, _body, res) => res.end('ok'));
  await fleet.prepare({ marketplace: {}, metering: {} });
  await fleet.startAll();
  console.log(`e2e fleet: ${[...fleet.procs.values()].map((p) => `${p.name}@${p.port}`).join(' ')} with Kafka ${fleet.procs.get('identity')!.env.KAFKA_BROKERS}, Redis ${fleet.procs.get('gateway')!.env.REDIS_URL}`);
});

afterAll(async () => {
  await fleet.stopAll();
  await provider?.close();
  await receiver?.close();
});

describe('the first paid call through the fleet', () => {
  let bksKey: string;
  let orgId: string;
  let providerAuth: string;
  let buyerAuth: string;
  let buyerId: string;
  let serviceId: string;
  let usageId: string;

  it('onboards an agent, which gets an API key', async () => {
    const r = await post(`${fleet.gateway}/agent-onboard`, { agent_identity: 'e2e-agent/1.0.0', org_name: 'E2E Org', project_name: 'default' });
    expect(r.status).toBe(201);
    expect(r.body.ok).toBe(true);
    expect(r.body.data.api_key).toMatch(/^bks_live_/);
    expect(r.body.data.free_credits).toBe(100);
    bksKey = r.body.data.api_key;
    orgId = r.body.data.org_id;
  });

  it('creates a provider key for the onboarded organisation with that key, and a buyer key with none', async () => {
    const p = await post(`${fleet.gateway}/api/v1/keys`, { owner_id: orgId, role: 'provider' }, { authorization: `Bearer ${bksKey}` });
    expect(p.status).toBe(201);
    providerAuth = `Bearer ${p.body.key_id}:${p.body.secret}`;
    buyerId = `e2e-buyer-${Date.now()}`;
    const b = await post(`${fleet.gateway}/api/v1/keys`, { owner_id: buyerId, role: 'buyer' });
    expect(b.status).toBe(201);
    expect(b.body.key_id).toMatch(/^acf_/);
    buyerAuth = `Bearer ${b.body.key_id}:${b.body.secret}`;
  });

  it('registers a service whose endpoint is a local HTTP server', async () => {
    const r = await post(
      `${fleet.gateway}/api/v1/services`,
      { name: 'E2E Sentiment', description: 'e2e', endpoint: `${provider.url}/v1`, price_per_call: '0.05', category: 'ai', tags: ['nlp'], free_tier_calls: 1 },
      { authorization: providerAuth },
    );
    expect(r.status).toBe(201);
    expect(r.body.pricing.price_per_call).toBe('0.05');
    serviceId = r.body.id;
  });

  it('subscribes the buyer to service.called webhooks', async () => {
    const r = await post(
      `${fleet.gateway}/api/v1/webhooks`,
      { url: `${receiver.url}/hook`, events: ['service.called'], secret: 'whsec_e2e_secret' },
      { authorization: buyerAuth },
    );
    expect(r.status).toBe(201);
  });

  it('serves the first call from the free tier', async () => {
    // The registration reaches metering's price read model through Kafka.
    const r = await eventually(async () => {
      const res = await fetch(`${fleet.gateway}/api/v1/proxy/${serviceId}/analyze`, {
        method: 'POST',
        headers: { authorization: buyerAuth, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'free call' }),
      });
      return res.status === 404 ? undefined : json(res);
    }, 15_000, 100);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-acf-free-tier')).toBe('true');
    expect(r.body.path).toBe('/v1/analyze');
  });

  it('refuses a paid call with no balance with 402, forwarding nothing', async () => {
    const before = provider.requests.length;
    const r = await fetch(`${fleet.gateway}/api/v1/proxy/${serviceId}/analyze`, {
      method: 'POST',
      headers: { authorization: buyerAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'no money' }),
    }).then(json);
    expect(r.status).toBe(402);
    expect(typeof r.body.detail).toBe('string');
    expect(provider.requests.length).toBe(before);
  });

  it('charges the price to the funded balance and returns the billing headers', async () => {
    const f = await post(`${fleet.gateway}/dev/balance/fund`, { amount: '1.00' }, { authorization: buyerAuth });
    expect(f.status).toBe(200);
    const r = await fetch(`${fleet.gateway}/api/v1/proxy/${serviceId}/analyze?lang=en`, {
      method: 'POST',
      headers: { authorization: buyerAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Analyze this document' }),
    }).then(json);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ sentiment: 'positive', path: '/v1/analyze?lang=en', received: { text: 'Analyze this document' } });
    expect(r.headers.get('x-acf-amount')).toBe('0.05');
    expect(r.headers.get('x-acf-free-tier')).toBe('false');
    expect(Number(r.headers.get('x-acf-latency-ms'))).toBeGreaterThanOrEqual(0);
    usageId = r.headers.get('x-acf-usage-id')!;
    expect(usageId).toBeTruthy();
    // The buyer's credentials never reach the provider.
    const last = provider.requests[provider.requests.length - 1];
    expect(last.headers.authorization).toBeUndefined();
    expect(last.headers['x-internal-principal']).toBeUndefined();

    const bal = await get(`${fleet.gateway}/dev/balance`, { authorization: buyerAuth });
    expect(bal.body.balance_micros).toBe('950000');
  });

  it('shows the calls in GET /api/v1/usage/me', async () => {
    const r = await get(`${fleet.gateway}/api/v1/usage/me`, { authorization: buyerAuth });
    expect(r.status).toBe(200);
    expect(r.body.buyer_id).toBe(buyerId);
    expect(r.body.total_calls).toBe(2);
    expect(r.body.total_spent_usd).toBe('0.05');
  });

  it('carries service.called over Kafka to reputation, settlements and webhooks', async () => {
    await eventually(async () => (await get(`${fleet.url('reputation')}/internal/observations/${usageId}`, internal())).body?.observed === true, 15_000);
    await eventually(async () => (await get(`${fleet.url('settlements')}/internal/providers/${orgId}/summary`, internal())).body?.call_count === 2, 15_000);
    // The webhook arrives signed as spec 002 describes.
    const hook = await eventually(() => receiver.requests.find((r) => JSON.parse(r.body).payload?.usage_id === usageId), 15_000);
    const expected = createHmac('sha256', 'whsec_e2e_secret').update(hook.body).digest('hex');
    expect(hook.headers['x-acf-signature']).toBe(expected);
    expect(hook.headers['x-acf-event']).toBe('service.called');
  });

  it('answers 503 for a stopped service while the others keep serving, and recovers', async () => {
    await fleet.stop('marketplace');
    const down = await get(`${fleet.gateway}/api/v1/services/${serviceId}`);
    expect(down.status).toBe(503);
    expect(down.body.detail).toMatch(/marketplace/);
    const usage = await get(`${fleet.gateway}/api/v1/usage/me`, { authorization: buyerAuth });
    expect(usage.status).toBe(200);
    const paid = await fetch(`${fleet.gateway}/api/v1/proxy/${serviceId}/analyze`, { method: 'POST', headers: { authorization: buyerAuth }, body: '{}' });
    expect(paid.status).toBe(200);
    fleet.start('marketplace');
    await fleet.waitReady('marketplace');
    const back = await get(`${fleet.gateway}/api/v1/services/${serviceId}`);
    expect(back.status).toBe(200);
  });

  it('delivers a usage event produced while Kafka is down once Kafka returns, exactly once', async () => {
    fleet.kafka.stop();
    let outageUsage: string;
    try {
      const r = await fetch(`${fleet.gateway}/api/v1/proxy/${serviceId}/analyze`, { method: 'POST', headers: { authorization: buyerAuth }, body: '{}' });
      expect(r.status).toBe(200);
      outageUsage = r.headers.get('x-acf-usage-id')!;
      await new Promise((res) => setTimeout(res, 1_500));
      expect((await get(`${fleet.url('reputation')}/internal/observations/${outageUsage}`, internal())).body.observed).toBe(false);
    } finally {
      fleet.kafka.start();
    }
    const seen = await eventually(async () => {
      const r = await get(`${fleet.url('reputation')}/internal/observations/${outageUsage}`, internal());
      return r.body?.observed ? r.body : undefined;
    }, 90_000, 250);
    expect(seen.count).toBe(1);
  });
});
