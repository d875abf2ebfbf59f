import { MemoryRateLimitStore } from './rate-limit';

describe('MemoryRateLimitStore token bucket', () => {
  it('allows the burst, then refills at the per-minute rate', async () => {
    let now = 0;
    const store = new MemoryRateLimitStore(() => now);
    const spec = { capacity: 120, perMinute: 60 };
    for (let i = 0; i < 120; i++) expect((await store.take('ip:a', spec)).allowed).toBe(true);
    const refused = await store.take('ip:a', spec);
    expect(refused).toEqual({ allowed: false, remaining: 0, retryAfterS: 1, resetS: 120 });
    now += 1_000; // one token per second at 60/min
    const again = await store.take('ip:a', spec);
    expect(again.allowed).toBe(true);
    expect((await store.take('ip:a', spec)).allowed).toBe(false);
    expect((await store.take('ip:b', spec)).remaining).toBe(119);
  });

  it('reports remaining tokens and when a slow bucket frees up', async () => {
    let now = 0;
    const store = new MemoryRateLimitStore(() => now);
    const spec = { capacity: 2, perMinute: 2 };
    expect(await store.take('k', spec)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await store.take('k', spec)).toMatchObject({ allowed: true, remaining: 0, resetS: 60 });
    expect(await store.take('k', spec)).toMatchObject({ allowed: false, retryAfterS: 30 });
    now += 30_000;
    expect((await store.take('k', spec)).allowed).toBe(true);
  });

  it('takes several buckets in order and stops at the first that refuses, leaving the rest untouched', async () => {
    const store = new MemoryRateLimitStore(() => 0);
    const ip = { key: 'ip:a', spec: { capacity: 2, perMinute: 2 } };
    const key = { key: 'key:k', spec: { capacity: 5, perMinute: 5 } };
    expect((await store.takeAll([ip, key])).map((r) => r.remaining)).toEqual([1, 4]);
    expect((await store.takeAll([ip, key])).map((r) => r.remaining)).toEqual([0, 3]);
    const refused = await store.takeAll([ip, key]);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ allowed: false, retryAfterS: 30 });
    expect((await store.takeAll([key]))[0].remaining).toBe(2);
  });

  it('bounds its memory', async () => {
    const store = new MemoryRateLimitStore(() => 0, 10);
    for (let i = 0; i < 25; i++) await store.take(`k${i}`, { capacity: 1, perMinute: 1 });
    expect((store as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(10);
  });
});
