import { z } from 'zod';
import { isUsd, parseUsd } from '@platform/money';
import { limitParam, offsetParam } from '@platform/http';

const emptyAsMissing = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(emptyAsMissing, schema.optional());

const price = z
  .string()
  .trim()
  .refine(isUsd, 'must be a decimal amount such as "0.01" (at most 6 decimals, not negative)')
  .transform((v) => parseUsd(v));

const tagList = z
  .string()
  .max(1000, 'must be at most 1000 characters')
  .transform((v) => [...new Set(v.split(',').map((t) => t.trim()).filter(Boolean))])
  .refine((tags) => tags.length <= 20, 'at most 20 tags')
  .refine((tags) => tags.every((t) => t.length <= 50), 'each tag must be at most 50 characters');

const flag = z.enum(['true', 'false', '1', '0'], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1');

/**
 * Spec 002 "Search Services (Advanced)". `sort_by` defaults to created_at; with `q` and no
 * `sort_by` results come by relevance (ts_rank), which is what a text search is for.
 * `relevance` may also be asked for explicitly.
 */
export const DiscoverQuery = z
  .object({
    q: optional(z.string().trim().max(200, 'must be at most 200 characters')),
    category: optional(z.string().trim().max(50, 'must be at most 50 characters')),
    tags: optional(tagList),
    min_price: optional(price),
    max_price: optional(price),
    payment_method: optional(z.enum(['x402', 'paypal', 'nowpayments'])),
    has_free_tier: optional(flag),
    sort_by: optional(z.enum(['created_at', 'price', 'name', 'relevance'])),
    limit: limitParam(50, 100),
    offset: offsetParam,
  })
  .refine((q) => q.min_price === undefined || q.max_price === undefined || q.min_price <= q.max_price, {
    message: 'must not be above max_price',
    path: ['min_price'],
  });
export type DiscoverQuery = z.infer<typeof DiscoverQuery>;

export const TrendingQuery = z.object({ limit: limitParam(10, 100) });
export type TrendingQuery = z.infer<typeof TrendingQuery>;

export const RecommendationsQuery = z.object({ limit: limitParam(5, 50) });
export type RecommendationsQuery = z.infer<typeof RecommendationsQuery>;

export const AgentIdParam = z.object({ agent_id: z.string().min(1).max(255, 'must be at most 255 characters') });
