import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { KeyRecord, UnitOfWork, EventStager, Stores, NewKey } from './ports';
import { ACF_KEY_ID, ACF_SECRET, SecretHasher, displayPrefix, newAcfKeyId, newAcfSecret } from './key-material';

export type AcfRole = 'buyer' | 'provider' | 'admin';

export interface CreateKeyInput {
  owner_id: string;
  role: AcfRole;
  rate_limit: number;
  wallet_address: string | null;
}

export interface KeysServiceDeps {
  uow: UnitOfWork;
  hasher: SecretHasher;
  clock?: () => Date;
}

export const isUsable = (k: KeyRecord, now: Date) => !k.revokedAt && (!k.expiresAt || k.expiresAt > now);
const isAdmin = (p: Principal | undefined) => !!p?.roles.includes('admin');

/** Inserts a key and stages `key.created` in the caller's transaction. */
export async function insertKey(tx: Stores & { events: EventStager }, key: NewKey): Promise<KeyRecord> {
  const saved = await tx.keys.insert(key);
  await tx.events.stage('key.created', saved.ownerId, {
    key_id: saved.id,
    owner_id: saved.ownerId,
    role: saved.role,
    rate_limit: saved.rateLimit,
    family: saved.family,
  });
  return saved;
}

/** Spec 002 keys (`acf_` id + `sec_` secret): create, validate, list own, revoke own. */
export function createKeysService(deps: KeysServiceDeps) {
  const { uow, hasher } = deps;
  const now = deps.clock ?? (() => new Date());

  return {
    /**
     * Spec 002: buyer keys need no auth, provider keys an authenticated caller, admin keys an
     * admin. Beyond the spec, a caller that is not acting as the owner (itself or an admin) may
     * only open a *new* owner_id: otherwise anyone could mint a key onto someone else's balance.
     */
    async create(caller: Principal | undefined, input: CreateKeyInput) {
      if (input.role === 'admin' && !isAdmin(caller)) {
        throw caller ? new AppError('FORBIDDEN', 'Creating admin keys requires an admin API key') : new AppError('UNAUTHORIZED', 'Creating admin keys requires an admin API key');
      }
      if (input.role === 'provider' && !caller) throw new AppError('UNAUTHORIZED', 'Creating provider keys requires an authenticated API key');
      const actsAsOwner = !!caller && (caller.owner_id === input.owner_id || isAdmin(caller));
      if (!actsAsOwner && input.role !== 'buyer') throw new AppError('FORBIDDEN', 'Cannot create provider keys for another owner');

      const keyId = newAcfKeyId();
      const secret = newAcfSecret();
      const saved = await uow.transaction(async (tx) => {
        if (!actsAsOwner) {
          await tx.keys.lockOwner(input.owner_id);
          if (await tx.keys.ownerHasKeys(input.owner_id)) {
            throw new AppError('FORBIDDEN', `owner_id "${input.owner_id}" already has keys; authenticate as that owner to create more`);
          }
        }
        return insertKey(tx, {
          id: keyId,
          family: 'acf',
          secretHash: hasher.hash(secret),
          prefix: displayPrefix(secret),
          ownerId: input.owner_id,
          role: input.role,
          rateLimit: input.rate_limit,
          walletAddress: input.wallet_address,
          name: null,
          orgId: null,
          envId: null,
          agentId: null,
        });
      });
      return { key_id: saved.id, secret, role: saved.role, rate_limit: saved.rateLimit };
    },

    /** The key behind `key_id` + `secret` when it is usable; one answer for every failure. */
    async authenticate(keyId: string, secret: string): Promise<KeyRecord> {
      const invalid = new AppError('UNAUTHORIZED', 'Invalid credentials');
      if (!ACF_KEY_ID.test(keyId) || !ACF_SECRET.test(secret)) throw invalid;
      const key = await uow.keys.findById(keyId);
      // Hash even for unknown ids so a miss costs the same as a wrong secret.
      const matches = hasher.matches(secret, key?.secretHash ?? '0'.repeat(64));
      if (!key || key.family !== 'acf' || !matches || !isUsable(key, now())) throw invalid;
      return key;
    },

    async listOwn(ownerId: string, page: { limit: number; offset: number }) {
      return uow.keys.listByOwner(ownerId, 'acf', page);
    },

    /** Owner only (spec 002: 403 "Not your key"). Revoking twice answers the same and emits once. */
    async revoke(caller: Principal, keyId: string) {
      return uow.transaction(async (tx) => {
        const key = await tx.keys.findById(keyId);
        if (!key || key.family !== 'acf') throw new AppError('NOT_FOUND', 'Key not found');
        if (key.ownerId !== caller.owner_id) throw new AppError('FORBIDDEN', 'Not your key');
        if (await tx.keys.revoke(key.id, now())) {
          await tx.events.stage('key.revoked', key.ownerId, { key_id: key.id, owner_id: key.ownerId, family: key.family });
        }
        return { status: 'revoked' as const, key_id: key.id };
      });
    },

    /** The first admin key comes from configuration; inserted when its id is absent, never overwritten. */
    async ensureBootstrapAdmin(credential: string, ownerId: string): Promise<boolean> {
      const [keyId, secret] = credential.split(':');
      if (await uow.keys.findById(keyId)) return false;
      try {
        await uow.transaction((tx) =>
          insertKey(tx, {
            id: keyId,
            family: 'acf',
            secretHash: hasher.hash(secret),
            prefix: displayPrefix(secret),
            ownerId,
            role: 'admin',
            rateLimit: 600,
            walletAddress: null,
            name: 'bootstrap admin',
            orgId: null,
            envId: null,
            agentId: null,
          }),
        );
        return true;
      } catch (err) {
        // Another replica inserted it first.
        if (await uow.keys.findById(keyId)) return false;
        throw err;
      }
    },
  };
}
export type KeysService = ReturnType<typeof createKeysService>;
