import crypto, { createHash, KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  Principal,
  principalSchema,
  serviceToken,
  INTERNAL_PRINCIPAL_HEADER,
  USER_TOKEN_ALG,
  USER_TOKEN_CLOCK_TOLERANCE_S,
  keysFromJwks,
  looksLikeJwt,
  principalFromUserClaims,
  tokenHeader,
  verifyUserToken,
} from '@platform/auth';
import { AppError } from '@platform/http';

/** Longer than any credential family the platform issues; refused without asking identity. */
const MAX_CREDENTIAL_LENGTH = 1024;

/** Hex sha256; node's one-shot hash (0.5 µs) where it exists, else a Hash object (2 µs). */
const sha256 = (text: string): string =>
  typeof crypto.hash === 'function' ? crypto.hash('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex');

export interface Verification {
  principal: Principal;
  cache_ttl_s: number;
}

/** Identity's POST /internal/credentials/verify. null: identity refused the credential. */
export interface IdentityClient {
  verify(credential: string): Promise<Verification | null>;
  /** Identity's GET /internal/jwks: the public keys of spec 001 user tokens. */
  jwks?(): Promise<unknown>;
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
  const serviceHeader = () => {
    const now = Date.now();
    if (now - tokenAt > 120_000) {
      token = serviceToken('gateway', opts.secret);
      tokenAt = now;
    }
    return { [INTERNAL_PRINCIPAL_HEADER]: token };
  };
  return {
    async jwks() {
      const base = opts.urls[next++ % opts.urls.length];
      try {
        const res = await fetch(`${base}/internal/jwks`, { headers: serviceHeader(), signal: AbortSignal.timeout(opts.timeoutMs) });
        if (res.status !== 200) throw unavailable();
        return await res.json();
      } catch {
        throw unavailable();
      }
    },
    async verify(credential) {
      const base = opts.urls[next++ % opts.urls.length];
      let res: Response;
      try {
        res = await fetch(`${base}/internal/credentials/verify`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...serviceHeader() },
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

const MAX_VERIFIED_TOKENS = 10_000;

/** The payload of a token whose signature was already checked (only its exp is read). */
function tokenClaims(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

interface CacheEntry {
  principal: Principal;
  until: number;
}

export interface JwtVerifierOptions {
  issuer: string;
  audience: string;
  /** Background refresh of the key set once it is older than this. */
  maxAgeS: number;
  /** An unknown kid refetches the key set at most this often. */
  minRefreshS: number;
  clock?: () => number;
  onRefreshError?: (err: unknown) => void;
}

/**
 * Verifies spec 001 user tokens locally with identity's published keys (JWKS), so a warm
 * verification is one ES256 signature check and no network call. The algorithm is pinned to
 * ES256 and a kid is required; issuer, audience and expiry are checked. A token naming an
 * unknown kid (identity rotated keys) refetches the set, at most once per minRefreshS.
 */
export class JwtVerifier {
  /** verified counts every accepted token, from memory (peek) or by signature. */
  readonly stats = { verified: 0, refused: 0, fetches: 0 };
  private keys = new Map<string, KeyObject>();
  /**
   * Tokens whose signature was checked, by sha256: a token is immutable, so it stays valid
   * until its expiry (plus the skew verifyUserToken allows) while the key that verified it is
   * still the one the key set holds for its kid (a JWKS refresh builds new key objects, so
   * every entry is checked by signature again once per JWKS_MAX_AGE_S).
   */
  private verifiedTokens = new Map<string, { principal: Principal; untilMs: number; kid: string; key: KeyObject }>();
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private refreshing: Promise<void> | null = null;

  constructor(
    private fetchJwks: () => Promise<unknown>,
    private opts: JwtVerifierOptions,
  ) {}

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  private refuse(): null {
    this.stats.refused++;
    return null;
  }

  /** The principal of a token verified before and still valid, without a signature check; undefined otherwise. */
  peek(token: string): Principal | undefined {
    const hit = this.verifiedTokens.get(sha256(token));
    if (!hit) return undefined;
    if (hit.untilMs <= this.now() || this.keys.get(hit.kid) !== hit.key) return undefined;
    this.refreshIfOld();
    this.stats.verified++;
    return hit.principal;
  }

  private refreshIfOld(): void {
    if (this.now() - this.fetchedAt > this.opts.maxAgeS * 1000 && !this.refreshing) {
      this.refresh().catch((err) => this.opts.onRefreshError?.(err));
    }
  }

  async verify(token: string): Promise<Principal | null> {
    const warm = this.peek(token);
    if (warm) return warm;
    const header = tokenHeader(token);
    if (!header || header.alg !== USER_TOKEN_ALG || !header.kid) return this.refuse();
    let key = this.keys.get(header.kid);
    if (!key) {
      // A refetch already under way answers for this token too; otherwise the rate limit decides.
      if (this.refreshing) await this.refreshing;
      else if (this.now() - this.attemptedAt >= this.opts.minRefreshS * 1000) await this.refresh();
      key = this.keys.get(header.kid);
      if (!key) return this.refuse();
    } else this.refreshIfOld();
    const claims = verifyUserToken(token, key, { issuer: this.opts.issuer, audience: this.opts.audience, now: new Date(this.now()) });
    if (!claims) return this.refuse();
    this.stats.verified++;
    const principal = principalFromUserClaims(claims);
    const exp = (tokenClaims(token) as { exp?: unknown } | null)?.exp;
    if (typeof exp === 'number') {
      if (this.verifiedTokens.size >= MAX_VERIFIED_TOKENS) this.verifiedTokens.clear();
      this.verifiedTokens.set(sha256(token), { principal, untilMs: (exp + USER_TOKEN_CLOCK_TOLERANCE_S) * 1000, kid: header.kid, key });
    }
    return principal;
  }

  /** Replaces the key set with identity's current one; concurrent callers share one fetch. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      this.attemptedAt = this.now();
      this.stats.fetches++;
      try {
        this.keys = keysFromJwks(await this.fetchJwks());
        this.fetchedAt = this.now();
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  get kids(): string[] {
    return [...this.keys.keys()];
  }
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
    private opts: { ttlS: number; maxEntries?: number; clock?: () => number; jwt?: JwtVerifier },
  ) {}

  /** The local verifier of spec 001 user tokens, when configured. */
  get jwt(): JwtVerifier | undefined {
    return this.opts.jwt;
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  /**
   * The principal of a credential answered from memory (a cached verification, or a user token
   * verified before), or undefined when only verify() can tell: the hot path's synchronous look-up.
   */
  peek(credential: string): Principal | undefined {
    if (!credential || credential.length > MAX_CREDENTIAL_LENGTH) return undefined;
    if (this.opts.jwt && looksLikeJwt(credential)) return this.opts.jwt.peek(credential);
    const hit = this.cache.get(sha256(credential));
    if (!hit || hit.until <= this.now()) return undefined;
    this.stats.hits++;
    return hit.principal;
  }

  /** The caller's principal, or null when the credential is not valid. */
  async verify(credential: string): Promise<Principal | null> {
    if (!credential || credential.length > MAX_CREDENTIAL_LENGTH) return null;
    // User tokens are verified here, with identity's public keys; API keys are asked of identity.
    if (this.opts.jwt && looksLikeJwt(credential)) return this.opts.jwt.verify(credential);
    const hash = sha256(credential);
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
