import Redis from 'ioredis';

/** A token bucket's answer for one request. */
export interface BucketResult {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until a refused request may succeed (0 when allowed). */
  retryAfterS: number;
  /** Seconds until the bucket is full again. */
  resetS: number;
}

export interface BucketSpec {
  /** Burst: the most requests allowed at once. */
  capacity: number;
  /** Sustained rate. */
  perMinute: number;
}

/** Rate-limit storage: Redis in fleet mode (shared by replicas), memory in standalone mode. */
export interface RateLimitStore {
  readonly kind: 'redis' | 'memory';
  take(key: string, spec: BucketSpec): Promise<BucketResult>;
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * One atomic step of a token bucket, in one round trip. Redis's own clock is used so every
 * gateway replica agrees on time. Returns {allowed, remaining, retry_ms, reset_ms}.
 */
const TOKEN_BUCKET_LUA = `
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * per_ms)
  ts = now
end
local allowed = 0
local retry_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) / per_ms)
end
local reset_ms = math.ceil((capacity - tokens) / per_ms)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], reset_ms + 1000)
return {allowed, math.floor(tokens), retry_ms, reset_ms}
`;

const toResult = (allowed: number | boolean, remaining: number, retryMs: number, resetMs: number): BucketResult => ({
  allowed: !!allowed,
  remaining: Math.max(0, Math.floor(remaining)),
  retryAfterS: allowed ? 0 : Math.max(1, Math.ceil(retryMs / 1000)),
  resetS: Math.max(0, Math.ceil(resetMs / 1000)),
});

type BucketRedis = Redis & { tokenBucket(key: string, capacity: number, perMs: string): Promise<[number, number, number, number]> };

export class RedisRateLimitStore implements RateLimitStore {
  readonly kind = 'redis' as const;
  private redis: BucketRedis;

  constructor(url: string, private prefix = 'gw:') {
    // Bounded waits: a slow or absent Redis must cost a request milliseconds, not seconds.
    const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2_000 });
    // defineCommand runs EVALSHA and falls back to EVAL once per connection (NOSCRIPT).
    redis.defineCommand('tokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
    redis.on('error', () => undefined); // surfaced through take() and healthy()
    this.redis = redis as BucketRedis;
  }

  async take(key: string, spec: BucketSpec): Promise<BucketResult> {
    const [allowed, remaining, retryMs, resetMs] = await this.redis.tokenBucket(`${this.prefix}rl:${key}`, spec.capacity, String(spec.perMinute / 60_000));
    return toResult(allowed, remaining, retryMs, resetMs);
  }

  async healthy(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** The same bucket in process memory, for standalone mode (one gateway, no Redis). */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly kind = 'memory' as const;
  private buckets = new Map<string, { tokens: number; ts: number }>();

  constructor(private clock: () => number = Date.now, private maxKeys = 100_000) {}

  async take(key: string, spec: BucketSpec): Promise<BucketResult> {
    const now = this.clock();
    const perMs = spec.perMinute / 60_000;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evict(now);
      b = { tokens: spec.capacity, ts: now };
      this.buckets.set(key, b);
    }
    if (now > b.ts) {
      b.tokens = Math.min(spec.capacity, b.tokens + (now - b.ts) * perMs);
      b.ts = now;
    }
    let allowed = false;
    let retryMs = 0;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      allowed = true;
    } else retryMs = Math.ceil((1 - b.tokens) / perMs);
    return toResult(allowed, b.tokens, retryMs, Math.ceil((spec.capacity - b.tokens) / perMs));
  }

  /** Drops buckets idle for ten minutes (refilled, so same as new); if none, the oldest half. */
  private evict(now: number): void {
    for (const [k, b] of this.buckets) if (now - b.ts > 600_000) this.buckets.delete(k);
    if (this.buckets.size >= this.maxKeys) {
      let n = this.buckets.size / 2;
      for (const k of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(k);
      }
    }
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.buckets.clear();
  }
}

export function createRateLimitStore(opts: { redisUrl?: string; prefix?: string }): RateLimitStore {
  return opts.redisUrl ? new RedisRateLimitStore(opts.redisUrl, opts.prefix) : new MemoryRateLimitStore();
}
