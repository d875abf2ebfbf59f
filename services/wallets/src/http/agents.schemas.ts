import { z } from 'zod';
import { MoneyFormatError, parseUsd } from '@platform/money';

/** Integer micro-USDC limits go up to $1,000,000,000 (still exact as JSON numbers). */
export const MAX_LIMIT_MICROS = 1_000_000_000_000_000n;

/** A spec 001 micro-USDC amount: a non-negative integer (spec shows numbers, e.g. 50000000) or a string of digits. */
export const microsField = (name: string) =>
  z.union([z.number({ error: `${name} must be an integer number of micro-USDC, e.g. 50000000` }), z.string()]).transform((v, ctx) => {
    const text = typeof v === 'number' ? (Number.isSafeInteger(v) ? String(v) : 'x') : v.trim();
    if (!/^\d{1,19}$/.test(text)) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a non-negative integer number of micro-USDC, e.g. 50000000 for $50` });
      return z.NEVER;
    }
    const n = BigInt(text);
    if (n > MAX_LIMIT_MICROS) {
      ctx.addIssue({ code: 'custom', message: `${name} must be at most ${MAX_LIMIT_MICROS}` });
      return z.NEVER;
    }
    return n;
  });
const nullableMicros = (name: string) => microsField(name).nullable();

export const address = (name: string) =>
  z.string({ error: `${name} must be an address (0x and 40 hex characters)` }).regex(/^0x[0-9a-fA-F]{40}$/, `${name} must be an address (0x and 40 hex characters)`);
const uuid = (name: string) => z.string({ error: `${name} must be a uuid` }).uuid(`${name} must be a uuid`);

const name = z
  .string({ error: 'name is required, e.g. "Research Bot"' })
  .trim()
  .min(1, 'name is required, e.g. "Research Bot"')
  .max(100, 'name must be at most 100 characters');

export const AgentParams = z.object({ id: z.string().min(1).max(100) });

export const PageQuery = z.object({
  limit: z.coerce.number({ error: 'limit must be an integer from 1 to 100' }).int('limit must be an integer from 1 to 100').min(1, 'limit must be at least 1').max(100, 'limit must be at most 100').default(20),
  offset: z.coerce.number({ error: 'offset must be an integer ≥ 0' }).int('offset must be an integer ≥ 0').min(0, 'offset must be ≥ 0').max(1_000_000, 'offset must be at most 1000000').default(0),
});
export type PageQuery = z.infer<typeof PageQuery>;

export const CreateAgentBody = z.strictObject({ name, spending_cap: nullableMicros('spending_cap').optional() });
export type CreateAgentBody = z.infer<typeof CreateAgentBody>;

const atLeastOne = (what: string) => (o: Record<string, unknown>) => Object.values(o).some((v) => v !== undefined) || `send at least one of ${what}`;

export const UpdateAgentBody = z
  .strictObject({
    name: name.optional(),
    spending_cap: nullableMicros('spending_cap').optional(),
    auto_topup_threshold: nullableMicros('auto_topup_threshold').optional(),
    auto_topup_amount: nullableMicros('auto_topup_amount')
      .refine((v) => v === null || v > 0n, 'auto_topup_amount must be more than 0')
      .optional(),
    auto_topup_source: address('auto_topup_source').nullable().optional(),
    department_id: uuid('department_id').nullable().optional(),
  })
  .refine((o) => atLeastOne('name, spending_cap, auto_topup_threshold, auto_topup_amount, auto_topup_source, department_id')(o) === true, {
    message: 'send at least one of name, spending_cap, auto_topup_threshold, auto_topup_amount, auto_topup_source, department_id',
  });
export type UpdateAgentBody = z.infer<typeof UpdateAgentBody>;

const services = (field: string) =>
  z
    .array(z.string({ error: `${field} entries must be strings such as "exa"` }).trim().min(1, `${field} entries cannot be empty`).max(200, `${field} entries must be at most 200 characters`), {
      error: `${field} must be a list of service names, e.g. ["exa", "openai"]`,
    })
    .max(200, `${field} may list at most 200 services`);

export const PolicyBody = z
  .strictObject({
    spending_cap: nullableMicros('spending_cap').optional(),
    daily_limit: nullableMicros('daily_limit').optional(),
    monthly_limit: nullableMicros('monthly_limit').optional(),
    per_call_max: nullableMicros('per_call_max').optional(),
    allowed_services: services('allowed_services').optional(),
    blocked_services: services('blocked_services').optional(),
    require_session: z.boolean({ error: 'require_session must be true or false' }).optional(),
  })
  .refine((o) => Object.values(o).some((v) => v !== undefined), { message: 'send at least one policy field: spending_cap, daily_limit, monthly_limit, per_call_max, allowed_services, blocked_services, require_session' });
export type PolicyBody = z.infer<typeof PolicyBody>;

export const FundBody = z.strictObject({
  tx_hash: z.string({ error: 'tx_hash is required: the hash of the transaction that sent USDC to the agent' }).regex(/^0x[0-9a-fA-F]{64}$/, 'tx_hash must be 0x and 64 hex characters'),
  /** Optional; when sent it must equal what the chain says the transaction moved. */
  amount: microsField('amount').optional(),
});
export type FundBody = z.infer<typeof FundBody>;

export const DrainBody = z.strictObject({ to_address: address('to_address').optional() });
export type DrainBody = z.infer<typeof DrainBody>;

export const OnrampBody = z.strictObject({
  /** Spec 001: "optional — pre-fills USD amount". */
  amount: z
    .union([z.number(), z.string()], { error: 'amount must be a number of US dollars, e.g. 50' })
    .transform((v, ctx) => {
      const text = String(v).trim();
      try {
        const micros = parseUsd(text);
        if (micros > 0n && micros <= 100_000_000_000n) return text;
      } catch (err) {
        if (!(err instanceof MoneyFormatError)) throw err;
      }
      ctx.addIssue({ code: 'custom', message: 'amount must be a number of US dollars between 0.01 and 100000, e.g. 50' });
      return z.NEVER;
    })
    .optional(),
});
