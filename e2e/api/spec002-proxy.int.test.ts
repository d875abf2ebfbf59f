import http from 'node:http';
import { startUpstream, Upstream, eventually } from '@platform/testing';
import { startPlatform, client, bearer, ADMIN_KEY, TestPlatform } from '../support/platform';

jest.setTimeout(90_000);

/**
 * Spec 002 "Payment Proxy" and "Get My Usage", sent to the gateway as a client would: the
 * proxy example with its billing headers, usage/me, the documented errors, and exactly-once
 * billing for client retries (X-Request-ID / Idempotency-Key).
 */
describe('spec 002 payment proxy through the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  let provider: Upstream;
  let slow: http.Server;
  let slowUrl: string;
  let providerAuth: string;
  let serviceId: string;

  const newBuyer = async (ownerId: string, fund?: string, rateLimit = 1000) => {
    const k = await api.post('/api/v1/keys', { owner_id: ownerId, role: 'buyer', rate_limit: rateLimit });
    expect(k.status).toBe(201);
    const auth = bearer(`${k.body.key_id}:${k.body.secret}`);
    if (fund) expect((await api.post('/dev/balance/fund', { amount: fund }, auth)).status).toBe(200);
    return auth;
  };
  const balance = async (auth: string) => (await api.get('/dev/balance', auth)).body.balance_micros as string;
  const register = async (body: Record<string, unknown>) => {
    const r = await api.post('/api/v1/services', { description: 'spec 002 proxy', category: 'ai', tags: ['nlp'], ...body }, providerAuth);
    expect(r.status).toBe(201);
    // The registration reaches metering's price list through the bus.
    const probe = await newBuyer(`probe-${r.body.id}`);
    await eventually(async () => (await api.get(`/api/v1/proxy/${r.body.id}/ping`, probe)).status !== 404, 10_000, 50);
    return r.body.id as string;
  };
  const proxy = (auth: string, path: string, body = '{"text": "Analyze this document"}', headers: Record<string, string> = {}) =>
    fetch(`${platform.url}/api/v1/proxy/${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json', ...headers }, body });

  beforeAll(async () => {
    platform = await startPlatform('s002proxy', {
      UPSTREAM_TIMEOUT_MS: '1000',
      // Every request comes from 127.0.0.1; the per-IP limit has its own tests in the gateway.
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_IP_BURST: '100000',
    });
    api = client(platform.url);
    provider = await startUpstream((req, body, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ analysis: 'positive', path: req.url, received: body ? JSON.parse(body) : null }));
    });
    // Answers headers only after the proxy's 1 s timeout.
    slow = http.createServer((_req, res) => void setTimeout(() => res.end('late'), 3_000).unref());
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}`;

    const p = await api.post('/api/v1/keys', { owner_id: 'provider-org', role: 'provider' }, bearer(ADMIN_KEY));
    expect(p.status).toBe(201);
    providerAuth = bearer(`${p.body.key_id}:${p.body.secret}`);
    serviceId = await register({ name: 'Doc Analyzer', endpoint: `${provider.url}/v1`, price_per_call: '0.05', free_tier_calls: 1 });
  });
  afterAll(async () => {
    await platform?.stop();
    await provider?.close();
    if (slow) {
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });

  it('runs the spec example: the provider’s response plus X-ACF-Usage-Id, -Amount, -Free-Tier, -Latency-Ms', async () => {
    const auth = await newBuyer('my-agent', '1.00');
    const free = await proxy(auth, `${serviceId}/analyze`);
    expect(free.status).toBe(200);
    expect(await free.json()).toEqual({ analysis: 'positive', path: '/v1/analyze', received: { text: 'Analyze this document' } });
    expect(free.headers.get('x-acf-free-tier')).toBe('true');
    expect(free.headers.get('x-acf-amount')).toBe('0');

    const paid = await proxy(auth, `${serviceId}/analyze`);
    expect(paid.status).toBe(200);
    expect(paid.headers.get('x-acf-usage-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(paid.headers.get('x-acf-amount')).toBe('0.05');
    expect(paid.headers.get('x-acf-free-tier')).toBe('false');
    expect(paid.headers.get('x-acf-latency-ms')).toMatch(/^\d+$/);
    expect(await balance(auth)).toBe('950000');
    // The buyer's credential never reaches the provider.
    expect(provider.requests.at(-1)!.headers.authorization).toBeUndefined();

    const usage = await api.get('/api/v1/usage/me', auth);
    expect(usage.status).toBe(200);
    expect(usage.body).toEqual({ buyer_id: 'my-agent', total_calls: 2, total_spent_usd: '0.05', avg_latency_ms: expect.any(Number) });
  });

  it('a retry with the same client X-Request-ID returns the first result and charges nothing more', async () => {
    const auth = await newBuyer('retrying-agent', '1.00');
    const first = await proxy(auth, `${serviceId}/analyze`, '{"text": "once"}', { 'x-request-id': 'client-req-0001' });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-request-id')).toBe('client-req-0001');
    const firstBody = await first.text();
    // The free call went first; this buyer's balance is untouched so far.
    const afterFirst = await balance(auth);
    const calls = provider.requests.length;

    const retry = await eventually(async () => {
      const r = await proxy(auth, `${serviceId}/analyze`, '{"text": "once"}', { 'x-request-id': 'client-req-0001' });
      return r.status === 409 ? undefined : r; // 409 only while the first is still being stored
    });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('x-acf-replayed')).toBe('true');
    expect(retry.headers.get('x-acf-usage-id')).toBe(first.headers.get('x-acf-usage-id'));
    expect(retry.headers.get('x-acf-amount')).toBe(first.headers.get('x-acf-amount'));
    expect(await retry.text()).toBe(firstBody);
    expect(provider.requests.length).toBe(calls);
    expect(await balance(auth)).toBe(afterFirst);

    // Idempotency-Key works the same, on a paid call.
    const keyed = await proxy(auth, `${serviceId}/analyze`, '{}', { 'idempotency-key': 'pay-once-42' });
    expect(keyed.headers.get('x-acf-amount')).toBe('0.05');
    const paidBalance = await balance(auth);
    const again = await eventually(async () => {
      const r = await proxy(auth, `${serviceId}/analyze`, '{}', { 'idempotency-key': 'pay-once-42' });
      return r.status === 409 ? undefined : r;
    });
    expect(again.headers.get('x-acf-replayed')).toBe('true');
    expect(await balance(auth)).toBe(paidBalance);
    expect(BigInt(afterFirst) - BigInt(paidBalance)).toBe(50_000n);
  });

  it('two calls without any id are two calls and two charges, even with a forged X-Client-Request-ID', async () => {
    const auth = await newBuyer('plain-agent', '1.00');
    await proxy(auth, `${serviceId}/analyze`); // the free call
    const calls = provider.requests.length;
    const a = await proxy(auth, `${serviceId}/analyze`, '{}', { 'x-client-request-id': 'forged-1' });
    const b = await proxy(auth, `${serviceId}/analyze`, '{}', { 'x-client-request-id': 'forged-1' });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.headers.get('x-acf-replayed')).toBeNull();
    expect(b.headers.get('x-acf-usage-id')).not.toBe(a.headers.get('x-acf-usage-id'));
    // Each got its own gateway request id, and neither was treated as a key.
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
    expect(provider.requests.length).toBe(calls + 2);
    expect(provider.requests.at(-1)!.headers['x-client-request-id']).toBeUndefined();
    expect(await balance(auth)).toBe('900000');
  });

  it('answers the documented errors in spec 002’s shape: 401, 404, 429, 502, 504', async () => {
    const noKey = await fetch(`${platform.url}/api/v1/proxy/${serviceId}/analyze`, { method: 'POST', body: '{}' });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ detail: 'Missing or invalid API key' });
    const badKey = await proxy(bearer('acf_NoSuchKey00000000:sec_nope'), `${serviceId}/analyze`);
    expect(badKey.status).toBe(401);
    expect(await badKey.json()).toMatchObject({ detail: expect.any(String) });

    const auth = await newBuyer('erring-agent', '1.00');
    const unknown = await proxy(auth, '00000000-0000-4000-8000-000000000000/analyze');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ detail: 'Service not found' });

    const limited = await newBuyer('limited-agent', undefined, 2);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await api.get('/api/v1/usage/me', limited)).status);
    expect(statuses).toEqual([200, 200, 429]);
    const over = await api.get('/api/v1/usage/me', limited);
    expect(over.body).toMatchObject({ detail: 'Rate limit exceeded. Try again later.' });
    expect(over.headers.get('retry-after')).toMatch(/^\d+$/);

    const closed = await new Promise<number>((resolve) => {
      const s = http.createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const downId = await register({ name: 'Gone API', endpoint: `http://127.0.0.1:${closed}`, price_per_call: '0.05' });
    const slowId = await register({ name: 'Slow API', endpoint: slowUrl, price_per_call: '0.05' });
    const before = await balance(auth);
    const unreachable = await proxy(auth, `${downId}/x`);
    expect(unreachable.status).toBe(502);
    expect(await unreachable.json()).toMatchObject({ detail: 'Provider unreachable' });
    const timeout = await proxy(auth, `${slowId}/x`);
    expect(timeout.status).toBe(504);
    expect(await timeout.json()).toMatchObject({ detail: 'Provider timeout' });
    // Failed calls are refunded.
    await eventually(async () => (await balance(auth)) === before, 5_000);
  });

  it('refuses a paid call without balance with 402, forwarding nothing', async () => {
    const auth = await newBuyer('broke-agent');
    await proxy(auth, `${serviceId}/analyze`); // free tier
    const calls = provider.requests.length;
    const r = await proxy(auth, `${serviceId}/analyze`);
    expect(r.status).toBe(402);
    expect(await r.json()).toMatchObject({ detail: expect.stringMatching(/^Insufficient balance/) });
    expect(provider.requests.length).toBe(calls);
  });
});
