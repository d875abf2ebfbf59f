import { z } from 'zod';
import { parseMicros } from '../domain/amounts';

const id = (name: string) => z.string({ error: `${name} is required` }).trim().min(1, `${name} is required`).max(200, `${name} must be at most 200 characters`);

/** Integer micro-USDC as a string ("50000"), as /tmp contracts and events carry it. */
const micros = z.string({ error: 'must be a string of digits (integer micro-USDC)' }).transform((s, ctx) => {
  const r = parseMicros(s);
  if ('error' in r) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r.micros;
});

export const DebitBody = z.object({
  usage_id: id('usage_id'),
  buyer_id: id('buyer_id'),
  amount_micros: micros,
  provider_id: id('provider_id'),
  service_id: id('service_id'),
  /** The agent paying (optional): the debit then counts against its policy spend. */
  agent_id: id('agent_id').optional(),
  /** The caller's organization, if any: the agent must belong to org_id ?? buyer_id. */
  org_id: id('org_id').nullable().optional(),
});
export type DebitBody = z.infer<typeof DebitBody>;

export const RefundBody = z.object({ usage_id: id('usage_id') });
export type RefundBody = z.infer<typeof RefundBody>;

export const OwnerParams = z.object({ owner_id: id('owner_id') });
