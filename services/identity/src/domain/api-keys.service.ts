import { randomUUID } from 'node:crypto';
import { USER_RATE_LIMIT, type Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { UnitOfWork } from './ports';
import type { AuthStore } from './auth.ports';
import { SecretHasher, displayPrefix, newIgKey } from './key-material';
import { insertKey } from './keys.service';

/**
 * Spec 001 "API Keys": `ig_live_` / `ig_test_` keys of a user, shown once, stored as a keyed
 * hash, listed as metadata, revoked at once (`key.revoked` drops gateway caches).
 */
export function createApiKeysService(deps: { uow: UnitOfWork; store: AuthStore; hasher: SecretHasher; clock?: () => Date }) {
  const { uow, hasher } = deps;
  const now = deps.clock ?? (() => new Date());

  /** The user behind a JWT or an ig_ key; other key families do not own spec 001 keys. */
  function userOf(caller: Principal): string {
    if (!caller.roles.includes('user') || (caller.kind !== 'jwt' && caller.kind !== 'ig_key')) {
      throw new AppError('FORBIDDEN', 'API keys under /api-keys belong to users: sign in with POST /auth/login or use an ig_ key');
    }
    return caller.owner_id;
  }

  return {
    async create(caller: Principal, input: { name: string; mode: 'live' | 'test' }) {
      const userId = userOf(caller);
      const key = newIgKey(input.mode);
      const membership = await uow.orgs.membershipOf(userId);
      const saved = await uow.transaction((tx) =>
        insertKey(tx, {
          id: randomUUID(),
          family: 'ig',
          secretHash: hasher.hash(key),
          prefix: displayPrefix(key),
          ownerId: userId,
          role: 'user',
          rateLimit: USER_RATE_LIMIT,
          walletAddress: null,
          name: input.name,
          orgId: membership?.orgId ?? null,
          envId: null,
          agentId: null,
        }),
      );
      return { id: saved.id, name: input.name, key };
    },

    list(caller: Principal, page: { limit: number; offset: number }) {
      return deps.store.listUserKeys(userOf(caller), page);
    },

    /** Owner only; another user's key answers like an unknown one. Revoking twice answers the same and emits once. */
    async revoke(caller: Principal, id: string) {
      const userId = userOf(caller);
      return uow.transaction(async (tx) => {
        const key = await tx.keys.findById(id);
        if (!key || key.family !== 'ig' || key.ownerId !== userId) throw new AppError('NOT_FOUND', 'API key not found');
        if (await tx.keys.revoke(key.id, now())) {
          await tx.events.stage('key.revoked', key.ownerId, { key_id: key.id, owner_id: key.ownerId, family: key.family });
        }
        return { id: key.id, revoked: true as const };
      });
    },
  };
}
export type ApiKeysService = ReturnType<typeof createApiKeysService>;
