import { z } from 'zod';

/** Spec 000 `POST /agent-credits`: `{"pack_id": "starter"}`; which ids exist is configuration (CREDIT_PACKS). */
export const PurchaseBody = z.object({
  pack_id: z
    .string({ error: 'pack_id is required, e.g. {"pack_id": "starter"} (GET /agent-credits lists the packs)' })
    .trim()
    .min(1, 'pack_id is required, e.g. {"pack_id": "starter"}')
    .max(64, 'pack_id must be at most 64 characters'),
});
export type PurchaseBody = z.infer<typeof PurchaseBody>;

/** Optional Idempotency-Key header: visible ASCII, at most 255 characters. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
