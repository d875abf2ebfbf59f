import { z } from 'zod';
import { MoneyFormatError, parseUsd } from '@platform/money';

export const FETCH_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

/** Spec 001 `max_cost`: US dollars as a JSON number (0.05), or the same as a decimal string; at most 6 decimals. */
export const maxCost = z.union([z.number(), z.string()], { error: 'max_cost must be a number of US dollars, e.g. 0.05' }).transform((v, ctx) => {
  const text = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'x') : v;
  try {
    return parseUsd(text);
  } catch (err) {
    if (!(err instanceof MoneyFormatError)) throw err;
    ctx.addIssue({ code: 'custom', message: 'max_cost must be a non-negative number of US dollars with at most 6 decimals, e.g. 0.05' });
    return z.NEVER;
  }
});

/** POST /external/fetch (spec 001 "External Fetch"): url, method, headers, body, max_cost. */
export const ExternalFetchBody = z.object({
  url: z.string({ error: 'url is required: the external API URL to call' }).min(1, 'url is required: the external API URL to call').max(4096, 'url must be at most 4096 characters'),
  method: z
    .string({ error: `method must be one of ${FETCH_METHODS.join(', ')}` })
    .transform((m) => m.toUpperCase())
    .pipe(z.enum(FETCH_METHODS, { error: `method must be one of ${FETCH_METHODS.join(', ')}` }))
    .default('GET'),
  headers: z
    .record(
      z.string(),
      z.string({ error: 'header values must be strings' }).max(8192, 'header values must be at most 8192 characters').refine((v) => !/[\r\n\0]/.test(v), 'header values must not contain line breaks'),
    )
    .refine((h) => Object.keys(h).every((k) => TOKEN.test(k)), 'header names must be HTTP tokens (letters, digits, -)')
    .refine((h) => Object.keys(h).length <= 100, 'at most 100 headers')
    .default({}),
  body: z.unknown().optional(),
  max_cost: maxCost.nullable().optional(),
});
export type ExternalFetchBody = z.infer<typeof ExternalFetchBody>;
