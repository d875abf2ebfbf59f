import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';

/** Spec 001 `POST /api-keys` `{ "name": "CI/CD Pipeline" }`; `mode` picks ig_live_ (default) or ig_test_ (testnet). */
export const CreateApiKeyBody = z.object({
  name: z.string({ error: 'must be a string' }).trim().min(1, 'is required').max(100, 'must be at most 100 characters'),
  mode: z.enum(['live', 'test'], { error: 'must be "live" or "test"' }).default('live'),
});

export const ListApiKeysQuery = z.object({ limit: limitParam(50), offset: offsetParam });
export const ApiKeyParams = z.object({ id: z.string().uuid('must be an API key id (a uuid)') });
