import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { KeyRecord, UnitOfWork } from './ports';
import { SecretHasher, parseCredential } from './key-material';
import { isUsable } from './keys.service';

/** How long the gateway may cache a verification (CONTRACTS: 30 s, shorter if the key expires sooner). */
export const MAX_CACHE_TTL_S = 30;

export interface Verified {
  principal: Principal;
  cache_ttl_s: number;
}

/**
 * Turns any raw credential the gateway saw (Bearer value or X-API-Key) into the principal
 * CONTRACTS.md defines per family. JWTs (spec 001 login) arrive with the auth routes in a
 * later issue; until then they are refused like any unknown credential.
 */
export function createCredentialsService(deps: { uow: UnitOfWork; hasher: SecretHasher; clock?: () => Date }) {
  const { uow, hasher } = deps;
  const now = deps.clock ?? (() => new Date());
  const refuse = () => new AppError('UNAUTHORIZED', 'Invalid or revoked credentials');

  async function lookup(raw: string): Promise<KeyRecord> {
    const parsed = parseCredential(raw);
    if (!parsed) throw refuse();
    if (parsed.family === 'acf') {
      const key = await uow.keys.findById(parsed.keyId!);
      const matches = hasher.matches(parsed.secret, key?.secretHash ?? '0'.repeat(64));
      if (!key || key.family !== 'acf' || !matches) throw refuse();
      return key;
    }
    // Single-token families are looked up by their keyed hash; the compare is belt and braces.
    const hash = hasher.hash(parsed.secret);
    const key = await uow.keys.findBySecretHash(hash);
    if (!key || key.family !== parsed.family || !hasher.matches(parsed.secret, key.secretHash)) throw refuse();
    return key;
  }

  async function principalFor(key: KeyRecord): Promise<Principal> {
    switch (key.family) {
      case 'acf':
        return { owner_id: key.ownerId, kind: 'acf_key', key_id: key.id, roles: [key.role], org_id: null, rate_limit: key.rateLimit, agent_id: null };
      case 'bks':
        return { owner_id: key.ownerId, kind: 'bks_key', key_id: key.id, roles: ['buyer'], org_id: key.orgId, rate_limit: key.rateLimit, agent_id: null };
      case 'pa': {
        const agent = key.agentId ? await uow.agents.findById(key.agentId) : null;
        // A suspended or deactivated agent's key stops working with it.
        if (!agent || agent.status !== 'active') throw refuse();
        return { owner_id: key.ownerId, kind: 'pa_key', key_id: key.id, roles: ['agent'], org_id: null, rate_limit: key.rateLimit, agent_id: agent.id };
      }
      case 'ig': {
        const membership = await uow.orgs.membershipOf(key.ownerId);
        const roles = membership ? ['user', `org_${membership.role}`] : ['user'];
        return { owner_id: key.ownerId, kind: 'ig_key', key_id: key.id, roles, org_id: membership?.orgId ?? key.orgId, rate_limit: key.rateLimit, agent_id: null };
      }
    }
  }

  return {
    async verify(raw: string): Promise<Verified> {
      const key = await lookup(raw);
      const at = now();
      if (!isUsable(key, at)) throw refuse();
      const principal = await principalFor(key);
      const untilExpiry = key.expiresAt ? Math.floor((key.expiresAt.getTime() - at.getTime()) / 1000) : MAX_CACHE_TTL_S;
      return { principal, cache_ttl_s: Math.max(0, Math.min(MAX_CACHE_TTL_S, untilExpiry)) };
    },
  };
}
export type CredentialsService = ReturnType<typeof createCredentialsService>;
