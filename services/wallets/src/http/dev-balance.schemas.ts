import { z } from 'zod';
import { parseFundAmount } from '../domain/amounts';

/** {"amount": "5.00"}: a decimal string of dollars, as the contract shows; never a float. */
export const FundBody = z.object({
  amount: z.string({ error: 'amount is required, as a decimal string such as "5.00"' }).max(32, 'amount is too long').transform((s, ctx) => {
    const r = parseFundAmount(s);
    if ('error' in r) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r.micros;
  }),
});
export type FundBody = z.infer<typeof FundBody>;

/** Optional Idempotency-Key header: visible ASCII, at most 255 characters. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
