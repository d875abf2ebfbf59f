import { ORG_ROLES, OrgRole, SigningKey, signUserToken, toJwks } from '@platform/auth';
import type { OrgStore } from './ports';

export interface TokenIssuerDeps {
  /** JWT_SIGNING_KEYS: the first signs, every one is published. */
  keys: SigningKey[];
  issuer: string;
  audience: string;
  ttlS: number;
  orgs: Pick<OrgStore, 'membershipOf'>;
  clock?: () => Date;
}

/**
 * Issues spec 001 user tokens. The user's organization and role are read at issue time and
 * carried as claims, so the gateway builds the same principal an ig_ key of the user gets
 * without asking identity; a later change reaches the token holder at renewal (JWT_TTL_S).
 */
export function createTokenIssuer(deps: TokenIssuerDeps) {
  const now = deps.clock ?? (() => new Date());
  const [signer] = deps.keys;
  return {
    async issue(userId: string): Promise<string> {
      const m = await deps.orgs.membershipOf(userId);
      const role = m && (ORG_ROLES as readonly string[]).includes(m.role) ? (m.role as OrgRole) : null;
      return signUserToken({ sub: userId, org_id: role ? m!.orgId : null, org_role: role }, signer, {
        issuer: deps.issuer,
        audience: deps.audience,
        ttlS: deps.ttlS,
        now: now(),
      });
    },
    jwks: () => toJwks(deps.keys),
  };
}
export type TokenIssuer = ReturnType<typeof createTokenIssuer>;
