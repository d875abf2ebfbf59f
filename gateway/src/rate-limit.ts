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

/** One bucket of a request: its key (without the store's prefix) and its size. */
export interface BucketStep {
  key: string;
  spec: BucketSpec;
}

/** Rate-limit storage: Redis in fleet mode (shared by replicas), memory in standalone mode. */
export interface RateLimitStore {
  readonly kind: 'redis' | 'memory';
  take(key: string, spec: BucketSpec): Promise<BucketResult>;
  /**
   * Takes a token from each bucket in order, atomically and in one round trip, stopping at the
   * first that refuses: the answer has one result per bucket taken, and a refused bucket is
   * the last one (the buckets after it are left untouched, as if the request never reached them).
   */
  takeAll(steps: readonly BucketStep[]): Promise<BucketResult[]>;
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Atomic steps of one or more token buckets (KEYS[i], capacity ARGV[2i-1], tokens per ms
 * ARGV[2i]), in one round trip: a request's per-IP and per-key buckets are one EVALSHA. Stops
 * at the first bucket that refuses, leaving the later ones untouched. Redis's own clock is used
 * so every gateway replica agrees on time. Returns {allowed, remaining, retry_ms, reset_ms} per
 * bucket taken, flattened. (All keys of one call must live on one node: a single Redis, not a
 * Cluster, unless the keys share a hash tag.)
 */
const TOKEN_BUCKET_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local per_ms = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
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
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ts', tostring(ts))
  redis.call('PEXPIRE', KEYS[i], reset_ms + 1000)
  out[#out + 1] = allowed
  out[#out + 1] = math.floor(tokens)
  out[#out + 1] = retry_ms
  out[#out + 1] = reset_ms
  if allowed == 0 then
    break
  end
end
return out
`;

const toResult = (allowed: number | boolean, remaining: number, retryMs: number, resetMs: number): BucketResult => ({
  allowed: !!allowed,
  remaining: Math.max(0, Math.floor(remaining)),
  retryAfterS: allowed ? 0 : Math.max(1, Math.ceil(retryMs / 1000)),
  resetS: Math.max(0, Math.ceil(resetMs / 1000)),
});

type BucketRedis = Redis & { tokenBuckets(numKeys: number, ...keysThenArgs: (string | number)[]): Promise<number[]> };

export class RedisRateLimitStore implements RateLimitStore {
  readonly kind = 'redis' as const;
  private redis: BucketRedis;

  constructor(url: string, private prefix = 'gw:') {
    // Bounded waits: a slow or absent Redis must cost a request milliseconds, not seconds.
    // Auto-pipelining sends the commands of every request that arrived in one event-loop turn in
    // one write (ioredis flushes at setImmediate): a socket write per request was ~8% of the CPU.
    const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2_000, enableAutoPipelining: true });
    // defineCommand runs EVALSHA and falls back to EVAL once per connection (NOSCRIPT); the key count is the first argument.
    redis.defineCommand('tokenBuckets', { lua: TOKEN_BUCKET_LUA });
    redis.on('error', () => undefined); // surfaced through take() and healthy()
    this.redis = redis as BucketRedis;
  }

  async take(key: string, spec: BucketSpec): Promise<BucketResult> {
    return (await this.takeAll([{ key, spec }]))[0];
  }

  async takeAll(steps: readonly BucketStep[]): Promise<BucketResult[]> {
    const args: (string | number)[] = [];
    for (const s of steps) args.push(`${this.prefix}rl:${s.key}`);
    for (const s of steps) args.push(s.spec.capacity, String(s.spec.perMinute / 60_000));
    const flat = await this.redis.tokenBuckets(steps.length, ...args);
    const out: BucketResult[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) out.push(toResult(flat[i], flat[i + 1], flat[i + 2], flat[i + 3]));
    return out;
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

  async takeAll(steps: readonly BucketStep[]): Promise<BucketResult[]> {
    const out: BucketResult[] = [];
    for (const s of steps) {
      const r = this.takeNow(s.key, s.spec);
      out.push(r);
      if (!r.allowed) break;
    }
    return out;
  }

  async take(key: string, spec: BucketSpec): Promise<BucketResult> {
    return this.takeNow(key, spec);
  }

  private takeNow(key: string, spec: BucketSpec): BucketResult {
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
