import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Principal, principalSchema, serviceToken, INTERNAL_PRINCIPAL_HEADER } from '@platform/auth';
import { AppError } from '@platform/http';

/** Longer than any credential family the platform issues; refused without asking identity. */
const MAX_CREDENTIAL_LENGTH = 1024;

export interface Verification {
  principal: Principal;
  cache_ttl_s: number;
}

/** Identity's POST /internal/credentials/verify. null: identity refused the credential. */
export interface IdentityClient {
  verify(credential: string): Promise<Verification | null>;
}

/**
 * Calls identity's replicas round-robin with a service token. Identity down or answering
 * oddly is an AppError UNAVAILABLE: the gateway then answers 503, never "invalid key".
 */
export function httpIdentityClient(opts: { urls: string[]; secret: string; timeoutMs: number }): IdentityClient {
  let next = 0;
  let token = '';
  let tokenAt = 0;
  const unavailable = () => new AppError('UNAVAILABLE', 'identity service is unavailable');
  return {
    async verify(credential) {
      const now = Date.now();
      if (now - tokenAt > 120_000) {
        token = serviceToken('gateway', opts.secret);
        tokenAt = now;
      }
      const base = opts.urls[next++ % opts.urls.length];
      let res: Response;
      try {
        res = await fetch(`${base}/internal/credentials/verify`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [INTERNAL_PRINCIPAL_HEADER]: token },
          body: JSON.stringify({ credential }),
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch {
        throw unavailable();
      }
      const body = await res.json().catch(() => undefined);
      if (res.status === 401 || res.status === 400) return null;
      if (res.status !== 200) throw unavailable();
      const parsed = principalSchema.safeParse((body as { principal?: unknown } | undefined)?.principal);
      if (!parsed.success) throw unavailable();
      const ttl = Number((body as { cache_ttl_s?: unknown }).cache_ttl_s);
      return { principal: parsed.data, cache_ttl_s: Number.isFinite(ttl) ? ttl : 0 };
    },
  };
}

interface CacheEntry {
  principal: Principal;
  until: number;
}

/**
 * Verifies credentials with an in-memory cache keyed by sha256 of the credential, so a warm
 * verification costs no network call and the raw secret is never a map key. Entries live at
 * most AUTH_CACHE_TTL_S; `key.revoked` events drop them at once (`invalidateKey`).
 */
export class CredentialVerifier {
  readonly stats = { hits: 0, remote: 0 };
  private cache = new Map<string, CacheEntry>();
  private byKey = new Map<string, Set<string>>();
  private inflight = new Map<string, Promise<Principal | null>>();
  /** key_id -> when a revocation arrived; keeps an answer fetched before it from being cached. */
  private revokedAt = new Map<string, number>();

  constructor(
    private client: IdentityClient,
    private opts: { ttlS: number; maxEntries?: number; clock?: () => number },
  ) {}

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  /** The caller's principal, or null when the credential is not valid. */
  async verify(credential: string): Promise<Principal | null> {
    if (!credential || credential.length > MAX_CREDENTIAL_LENGTH) return null;
    const hash = createHash('sha256').update(credential).digest('hex');
    const hit = this.cache.get(hash);
    if (hit) {
      if (hit.until > this.now()) {
        this.stats.hits++;
        return hit.principal;
      }
      this.forget(hash, hit.principal.key_id);
    }
    // Concurrent first requests with one credential share one call to identity.
    const pending = this.inflight.get(hash);
    if (pending) return pending;
    const started = this.now();
    const p = this.fetch(hash, credential, started).finally(() => this.inflight.delete(hash));
    this.inflight.set(hash, p);
    return p;
  }

  private async fetch(hash: string, credential: string, started: number): Promise<Principal | null> {
    this.stats.remote++;
    const v = await this.client.verify(credential);
    if (!v) return null;
    const keyId = v.principal.key_id;
    if (keyId && (this.revokedAt.get(keyId) ?? -1) >= started) return null;
    const ttlMs = Math.min(this.opts.ttlS, v.cache_ttl_s) * 1000;
    if (ttlMs > 0) {
      if (this.cache.size >= (this.opts.maxEntries ?? 100_000)) this.evictOldest();
      this.cache.set(hash, { principal: v.principal, until: this.now() + ttlMs });
      if (keyId) {
        const set = this.byKey.get(keyId) ?? new Set<string>();
        set.add(hash);
        this.byKey.set(keyId, set);
      }
    }
    return v.principal;
  }

  /** Drops every cached verification of a key (on `key.revoked`). */
  invalidateKey(keyId: string): void {
    const now = this.now();
    this.revokedAt.set(keyId, now);
    for (const hash of this.byKey.get(keyId) ?? []) this.cache.delete(hash);
    this.byKey.delete(keyId);
    // Older revocations cannot race a verification any more.
    if (this.revokedAt.size > 1_000) {
      for (const [k, at] of this.revokedAt) if (now - at > 60_000) this.revokedAt.delete(k);
    }
  }

  get size(): number {
    return this.cache.size;
  }

  private forget(hash: string, keyId: string | null): void {
    this.cache.delete(hash);
    if (keyId) this.byKey.get(keyId)?.delete(hash);
  }

  private evictOldest(): void {
    let n = Math.ceil(this.cache.size / 10);
    for (const [hash, e] of this.cache) {
      if (n-- <= 0) break;
      this.forget(hash, e.principal.key_id);
    }
  }
}

export type CredentialSource = { credential: string } | { malformed: string } | null;

/**
 * Where a caller put its credential: `Authorization: Bearer …` (every family, and JWTs),
 * `X-API-Key` (spec 001), or the route's query parameter (spec 002 admin dashboard).
 */
export function credentialFrom(req: IncomingMessage, queryParam?: string): CredentialSource {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.length) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    return m ? { credential: m[1] } : { malformed: 'Authorization must be "Bearer <credential>"' };
  }
  const apiKey = req.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.length) return { credential: apiKey.trim() };
  if (queryParam && req.url) {
    const value = new URL(req.url, 'http://gateway').searchParams.get(queryParam);
    if (value) return { credential: value };
  }
  return null;
}
