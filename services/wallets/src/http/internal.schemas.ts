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

/** A balance lease id: a uuid, lower case (it is also the owner of the lease's ledger account). */
const leaseId = (name: string) =>
  z
    .string({ error: `${name} must be a uuid` })
    .uuid(`${name} must be a uuid`)
    .transform((s) => s.toLowerCase());

export const DebitBody = z
  .object({
    usage_id: id('usage_id'),
    buyer_id: id('buyer_id'),
    amount_micros: micros,
    provider_id: id('provider_id'),
    service_id: id('service_id'),
    /** The agent paying (optional): the debit then counts against its policy spend. */
    agent_id: id('agent_id').optional(),
    /** The caller's organization, if any: the agent must belong to org_id ?? buyer_id. */
    org_id: id('org_id').nullable().optional(),
    /** The buyer's balance lease the amount comes from instead of its buyer_balance (optional). */
    lease_id: leaseId('lease_id').optional(),
  })
  .refine((b) => b.agent_id === undefined || b.lease_id === undefined, { message: 'agent_id cannot be combined with lease_id', path: ['lease_id'] });
export type DebitBody = z.infer<typeof DebitBody>;

export const LeaseBody = z
  .object({
    lease_id: leaseId('lease_id'),
    buyer_id: id('buyer_id'),
    amount_micros: micros,
    /** The least the caller accepts (default: amount_micros, all or nothing). */
    min_micros: micros.optional(),
  })
  .refine((b) => b.min_micros === undefined || b.min_micros <= b.amount_micros, { message: 'min_micros must not exceed amount_micros', path: ['min_micros'] });
export type LeaseBody = z.infer<typeof LeaseBody>;

export const LeaseParams = z.object({ id: id('id') });

export const RefundBody = z.object({ usage_id: id('usage_id') });
export type RefundBody = z.infer<typeof RefundBody>;

export const OwnerParams = z.object({ owner_id: id('owner_id') });
