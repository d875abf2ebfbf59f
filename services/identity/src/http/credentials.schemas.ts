import { z } from 'zod';

/** CONTRACTS: POST /internal/credentials/verify {"credential": "<raw bearer or X-API-Key value>"}. */
export const VerifyCredentialBody = z.object({ credential: z.string().min(1).max(1024) });
