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
/** Headers only the platform may set; the gateway deletes client-sent copies. */
export const INTERNAL_HEADERS = [INTERNAL_PRINCIPAL_HEADER, 'x-internal-service', 'x-forwarded-principal'];

const ISSUER = 'platform-gateway';
const AUDIENCE = 'platform-services';

export function signPrincipal(principal: Principal, secret: string, ttlSeconds = 60): string {
  return jwt.sign({ p: principal }, secret, {
    algorithm: 'HS256',
    expiresIn: ttlSeconds,
    issuer: ISSUER,
    audience: AUDIENCE,
  });
}

export function verifyPrincipal(token: string, secret: string): Principal | null {
  try {
    const decoded = jwt.verify(token, secret, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
    if (typeof decoded !== 'object' || decoded === null) return null;
    const parsed = principalSchema.safeParse((decoded as { p?: unknown }).p);
    return parsed.success ? parsed.data : null;
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
