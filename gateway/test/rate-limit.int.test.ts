import { randomBytes } from 'node:crypto';
import { TEST_REDIS_URL } from '@platform/testing';
import { Stack, startStack, call, newBuyerKey } from './support';
import { RedisRateLimitStore, type BucketStep, type RunningGateway } from '../src';

describe('gateway rate limits (Redis token buckets)', () => {
  let s: Stack;
  let low: RunningGateway;
  let lowReplica: RunningGateway;
  let n = 0;
  const ip = () => `198.51.100.${++n}`;

  beforeAll(async () => {
    s = await startStack('gw_ratelimit');
    const lowEnv = { RATE_LIMIT_IP_PER_MIN: '3', RATE_LIMIT_IP_BURST: '3', TRUST_PROXY: 'loopback' };
    low = await s.gatewayWith(lowEnv);
    lowReplica = await s.gatewayWith(lowEnv);
  });
  afterAll(() => s.stop());

  it('uses Redis when REDIS_URL is set', () => {
    expect(low.rateLimits.kind).toBe('redis');
  });

  it('answers 429 per IP past the burst, with Retry-After and RateLimit-* headers, and forwards nothing', async () => {
    const client = ip();
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const ok = await call(low.url, 'GET', '/api/v1/services', { headers: { 'x-forwarded-for': client } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('ratelimit-limit')).toBe('3');
      remaining.push(ok.headers.get('ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const forwarded = s.stubs.marketplace.requests.length;
    const res = await call(low.url, 'GET', '/api/v1/services', { headers: { 'x-forwarded-for': client } });
    expect(res.status).toBe(429);
    expect(res.body.detail).toBe('Rate limit exceeded. Try again later.');
    const retryAfter = Number(res.headers.get('retry-after'));
    // 3 per minute refills one request every 20 s.
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    expect(res.headers.get('ratelimit-limit')).toBe('3');
    expect(res.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    expect(s.stubs.marketplace.requests.length).toBe(forwarded);

    // Another client is unaffected.
    expect((await call(low.url, 'GET', '/api/v1/services', { headers: { 'x-forwarded-for': ip() } })).status).toBe(200);
  });

  it('shares the buckets across gateway replicas and answers in the route family', async () => {
    const client = ip();
    for (let i = 0; i < 3; i++) expect((await call(low.url, 'GET', '/api/v1/discover', { headers: { 'x-forwarded-for': client } })).status).toBe(200);
    const other = await call(lowReplica.url, 'GET', '/agent-credits', { headers: { 'x-forwarded-for': client } });
    expect(other.status).toBe(429);
    expect(other.body).toMatchObject({ ok: false, error: { code: 'rate_limited', message: 'Rate limit exceeded. Try again later.' } });
    const spec001 = await call(lowReplica.url, 'GET', '/balance', { headers: { 'x-forwarded-for': client } });
    expect(spec001.body.error).toBe('Rate limit exceeded. Try again later.');
  });

  it('limits each key to its own rate_limit per minute', async () => {
    const key = await newBuyerKey(s.url, 'tiny-limit', 2);
    for (let i = 0; i < 2; i++) {
      const ok = await call(s.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('ratelimit-limit')).toBe('2');
    }
    const res = await call(s.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } });
    expect(res.status).toBe(429);
    expect(res.body.detail).toBe('Rate limit exceeded. Try again later.');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('ratelimit-limit')).toBe('2');
    // Another key from the same address still passes.
    const other = await newBuyerKey(s.url, 'roomy-limit');
    expect((await call(s.url, 'GET', '/api/v1/usage/me', { headers: { authorization: other.bearer } })).status).toBe(200);
  });

  it('keeps the same contract in memory when REDIS_URL is unset (standalone mode)', async () => {
    const mem = await s.gatewayWith({ REDIS_URL: '', RATE_LIMIT_IP_PER_MIN: '2', RATE_LIMIT_IP_BURST: '2' });
    expect(mem.rateLimits.kind).toBe('memory');
    expect((await call(mem.url, 'GET', '/api/v1/services')).status).toBe(200);
    expect((await call(mem.url, 'GET', '/api/v1/services')).status).toBe(200);
    const res = await call(mem.url, 'GET', '/api/v1/services');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeTruthy();
  });

  it('takes a request\'s buckets in one Redis call, stopping at the first refusal', async () => {
    const store = new RedisRateLimitStore(TEST_REDIS_URL, `gwtest:${randomBytes(4).toString('hex')}:`);
    try {
      const ipStep = { key: 'ip:a', spec: { capacity: 2, perMinute: 2 } };
      const keyStep = { key: 'key:k', spec: { capacity: 5, perMinute: 5 } };
      expect((await store.takeAll([ipStep, keyStep])).map((r) => [r.allowed, r.remaining])).toEqual([[true, 1], [true, 4]]);
      expect((await store.takeAll([ipStep, keyStep])).map((r) => [r.allowed, r.remaining])).toEqual([[true, 0], [true, 3]]);
      const refused = await store.takeAll([ipStep, keyStep]);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ allowed: false, remaining: 0, retryAfterS: 30 });
      // The key bucket was not charged for the refused request.
      expect((await store.take(keyStep.key, keyStep.spec)).remaining).toBe(2);
    } finally {
      await store.close();
    }
  });

  it('costs a warm credential one rate-limit call per request (both buckets), a cold one two', async () => {
    const real = new RedisRateLimitStore(TEST_REDIS_URL, `gwtest:${randomBytes(4).toString('hex')}:`);
    const calls: string[][] = [];
    const counting = Object.assign(Object.create(real) as RedisRateLimitStore, {
      takeAll: (steps: readonly BucketStep[]) => {
        calls.push(steps.map((st) => st.key.split(':')[0]));
        return real.takeAll(steps);
      },
    });
    const g = await s.gatewayWith({}, { rateLimits: counting });
    const key = await newBuyerKey(s.url, 'one-round-trip');
    expect((await call(g.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } })).status).toBe(200);
    expect(calls).toEqual([['ip'], ['key']]);
    calls.length = 0;
    const warm = await call(g.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } });
    expect(warm.status).toBe(200);
    expect(calls).toEqual([['ip', 'key']]);
    // The key's bucket (60/min) is tighter than the IP's: its figures are the ones answered.
    expect(warm.headers.get('ratelimit-limit')).toBe('60');
    expect(warm.headers.get('ratelimit-remaining')).toBe('58');
  });

  it('does not limit health checks', async () => {
    const client = ip();
    for (let i = 0; i < 5; i++) expect((await call(low.url, 'GET', '/health', { headers: { 'x-forwarded-for': client } })).status).toBe(200);
  });
});
