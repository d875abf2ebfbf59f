import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';

/** Owner ids key balances and ownership in every service; keep them plain and bounded. */
export const ownerId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@+:-]*$/, 'must be letters, digits and . _ @ + : - (starting with a letter or digit)');

/** Spec 002 `POST /api/v1/keys`. */
export const CreateKeyBody = z.object({
  owner_id: ownerId,
  role: z.enum(['buyer', 'provider', 'admin']).default('buyer'),
  // Bounded so a self-issued key cannot opt out of the per-key limit.
  rate_limit: z.number().int().min(1).max(1000).default(60),
  wallet_address: z
    .string()
    .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed address of 40 hex digits')
    .nullable()
    .default(null),
});
export type CreateKeyBody = z.infer<typeof CreateKeyBody>;

/** Spec 002 `POST /api/v1/keys/validate`. */
export const ValidateKeyBody = z.object({
  key_id: z.string().min(1).max(64),
  secret: z.string().min(1).max(128),
});

export const ListKeysQuery = z.object({ limit: limitParam(50), offset: offsetParam });
export const KeyParams = z.object({ key_id: z.string().min(1).max(64) });
