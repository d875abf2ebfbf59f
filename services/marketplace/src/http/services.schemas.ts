import { z } from 'zod';
import { isUsd, parseUsd } from '@platform/money';
import { limitParam, offsetParam } from '@platform/http';

/** Highest price per call we accept: keeps every amount far inside BIGINT and away from typos. */
export const MAX_PRICE_MICROS = parseUsd('1000000');

const endpoint = z
  .string()
  .trim()
  .max(2048, 'must be at most 2048 characters')
  .refine((v) => /^https?:\/\//i.test(v), 'must start with http:// or https://')
  .refine((v) => URL.canParse(v) && Boolean(new URL(v).hostname), 'must be a valid URL')
  .refine((v) => !URL.canParse(v) || (!new URL(v).username && !new URL(v).password), 'must not carry credentials (user:password@)');

/** Spec 002 sends prices as decimal strings ("0.05"); a JSON number is read the same way. */
const price = z
  .union([z.string(), z.number()])
  .transform((v) => String(v).trim())
  .refine(isUsd, 'must be a decimal amount such as "0.05" (at most 6 decimals, not negative)')
  .transform((v) => parseUsd(v))
  .refine((m) => m <= MAX_PRICE_MICROS, 'must be at most 1000000');

const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const description = z.string().max(2000, 'must be at most 2000 characters');
const category = z.string().trim().max(50, 'must be at most 50 characters');
const tags = z
  .array(z.string().trim().min(1, 'must not be empty').max(50, 'must be at most 50 characters'))
  .max(20, 'at most 20 tags');
const paymentMethod = z.enum(['x402', 'paypal', 'nowpayments']);
const freeTierCalls = z.number().int('must be a whole number').min(0, 'must be 0 or more').max(1_000_000, 'must be at most 1000000');
export const serviceStatus = z.enum(['active', 'paused', 'removed']);

export const CreateServiceBody = z.object({
  name,
  description: description.default(''),
  endpoint,
  price_per_call: price,
  category: category.default(''),
  tags: tags.default([]),
  payment_method: paymentMethod.default('x402'),
  free_tier_calls: freeTierCalls.default(0),
});
export type CreateServiceBody = z.infer<typeof CreateServiceBody>;

/** Spec 002 lists name, description, endpoint, price_per_call, status, category, tags; payment_method and free_tier_calls are accepted too. */
export const UpdateServiceBody = z
  .object({
    name: name.optional(),
    description: description.optional(),
    endpoint: endpoint.optional(),
    price_per_call: price.optional(),
    status: serviceStatus.optional(),
    category: category.optional(),
    tags: tags.optional(),
    payment_method: paymentMethod.optional(),
    free_tier_calls: freeTierCalls.optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one field to change');
export type UpdateServiceBody = z.infer<typeof UpdateServiceBody>;

export const ListServicesQuery = z.object({
  query: z.string().trim().max(200, 'must be at most 200 characters').optional(),
  category: z.string().trim().max(50, 'must be at most 50 characters').optional(),
  status: serviceStatus.default('active'),
  limit: limitParam(50, 100),
  offset: offsetParam,
});
export type ListServicesQuery = z.infer<typeof ListServicesQuery>;
