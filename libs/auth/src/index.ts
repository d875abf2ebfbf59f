import { createSecretKey, KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';

/**
 * The principal the gateway vouches for. Services trust only this, carried in
 * X-Internal-Principal as a short-lived HS256 token signed with INTERNAL_TOKEN_SECRET;
 * the gateway strips any client-sent copy first.
 */
export const principalSchema = z.object({
  /** The owner id every spec route keys ownership on (spec 002 `owner_id`). */
  owner_id: z.string(),
  /** Which credential family authenticated the caller. */
  kind: z.enum(['acf_key', 'ig_key', 'bks_key', 'pa_key', 'jwt', 'internal']),
  key_id: z.string().nullable(),
  roles: z.array(z.string()),
  org_id: z.string().nullable(),
  rate_limit: z.number().int().nullable(),
  /** Platform agent id when the caller is an agent (pa_ keys, bks_ onboarding keys). */
  agent_id: z.string().nullable().optional(),
});
export type Principal = z.infer<typeof principalSchema>;

export const INTERNAL_PRINCIPAL_HEADER = 'x-internal-principal';
/**
 * The X-Request-ID the client itself sent, forwarded by the gateway only when the client sent
 * one (the gateway makes up an id for every other request). Services that key idempotency on
 * the client's request id read this, never X-Request-ID.
 */
export const CLIENT_REQUEST_ID_HEADER = 'x-client-request-id';
/** Headers only the platform may set; the gateway deletes client-sent copies. */
export const INTERNAL_HEADERS = [INTERNAL_PRINCIPAL_HEADER, 'x-internal-service', 'x-forwarded-principal', CLIENT_REQUEST_ID_HEADER];

const ISSUER = 'platform-gateway';
const AUDIENCE = 'platform-services';

/**
 * Given a string secret, jsonwebtoken first tries to parse it as a PEM/DER key and fails with
 * an exception: about 0.5 ms of CPU on every sign and verify, on every service request. The
 * same bytes as an HMAC KeyObject, made once per secret, cost nothing per call.
 */
const hmacKeys = new Map<string, KeyObject>();
function hmacKey(secret: string): KeyObject | string {
  if (!secret) return secret; // jsonwebtoken refuses an empty secret itself
  let key = hmacKeys.get(secret);
  if (!key) {
    if (hmacKeys.size >= 16) hmacKeys.clear();
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    hmacKeys.set(secret, key);
  }
  return key;
}

/**
 * Tokens already verified, until their `exp`: the gateway reuses one token per principal for
 * half its life, so a service sees the same token many times. The token is immutable, so a
 * hit only has to be for the same secret and not expired (jsonwebtoken: valid while now < exp).
 */
const verifiedTokens = new Map<string, { secret: string; principal: Principal; expMs: number }>();
const MAX_VERIFIED_TOKENS = 10_000;

export function signPrincipal(principal: Principal, secret: string, ttlSeconds = 60): string {
  return jwt.sign({ p: principal }, hmacKey(secret), {
    algorithm: 'HS256',
    expiresIn: ttlSeconds,
    issuer: ISSUER,
    audience: AUDIENCE,
  });
}

export function verifyPrincipal(token: string, secret: string): Principal | null {
  const hit = verifiedTokens.get(token);
  // A copy: callers own what they get back.
  if (hit && hit.secret === secret && hit.expMs > Date.now()) return { ...hit.principal, roles: [...hit.principal.roles] };
  try {
    const decoded = jwt.verify(token, hmacKey(secret), { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
    if (typeof decoded !== 'object' || decoded === null) return null;
    const parsed = principalSchema.safeParse((decoded as { p?: unknown }).p);
    if (!parsed.success) return null;
    if (typeof decoded.exp === 'number') {
      if (verifiedTokens.size >= MAX_VERIFIED_TOKENS) verifiedTokens.clear();
      verifiedTokens.set(token, { secret, principal: { ...parsed.data, roles: [...parsed.data.roles] }, expMs: decoded.exp * 1000 });
    }
    return parsed.data;
  } catch {
    return null;
  }
}

/**
 * Caches the signed token per principal for most of its life: signing on every request
 * costs ~20µs of HMAC and JSON on the hot path, and the token is only a transport.
 */
export class PrincipalTokenCache {
  private cache = new Map<string, { token: string; until: number }>();
  constructor(private secret: string, private ttlSeconds = 60) {}

  tokenFor(principal: Principal, now = Date.now()): string {
    const key = `${principal.kind}|${principal.key_id ?? ''}|${principal.owner_id}|${principal.roles.join(',')}|${principal.org_id ?? ''}|${principal.rate_limit ?? ''}|${principal.agent_id ?? ''}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.token;
    const token = signPrincipal(principal, this.secret, this.ttlSeconds);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { token, until: now + (this.ttlSeconds * 1000) / 2 });
    return token;
  }
}

/** A token services use to call each other's internal routes. */
export function serviceToken(service: string, secret: string): string {
  return signPrincipal(
    { owner_id: `service:${service}`, kind: 'internal', key_id: null, roles: ['service'], org_id: null, rate_limit: null },
    secret,
    300,
  );
}

export * from './user-token';
