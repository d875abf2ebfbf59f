import { z } from 'zod';
import { parseMicros } from '../domain/amounts';

const id = (name: string) => z.string({ error: `${name} is required` }).trim().min(1, `${name} is required`).max(200, `${name} must be at most 200 characters`);
const micros = (name: string) =>
  z.string({ error: `${name} must be a string of digits (integer micro-USDC)` }).transform((s, ctx) => {
    const r = parseMicros(s);
    if ('error' in r) {
      ctx.addIssue({ code: 'custom', message: `${name} ${r.error}` });
      return z.NEVER;
    }
    return r.micros;
  });
const uint = (name: string) =>
  z
    .string({ error: `${name} must be a string of digits` })
    .regex(/^\d{1,20}$/, `${name} must be a string of digits`)
    .transform((s) => BigInt(s));

/** An EIP-3009 nonce: 32 bytes as 0x and 64 hex characters. */
const nonce = z.string({ error: 'nonce must be 0x and 64 hex characters' }).regex(/^0x[0-9a-fA-F]{64}$/, 'nonce must be 0x and 64 hex characters');

/** The account metering acts for: org_id when the caller has one, else owner_id. */
const account = { owner_id: id('owner_id'), org_id: id('org_id').nullable().optional() };

export const SessionDebitBody = z.object({
  ...account,
  usage_id: id('usage_id'),
  amount_micros: micros('amount_micros'),
  service_id: id('service_id'),
  provider_id: id('provider_id'),
  /** Optional: the agent metering was told pays; the session must be its (else 404 session_not_found). */
  agent_id: z.string().uuid('agent_id must be an agent id (a UUID)').optional(),
});
export type SessionDebitBody = z.infer<typeof SessionDebitBody>;

export const SessionRefundBody = z.object({ usage_id: id('usage_id') });
export type SessionRefundBody = z.infer<typeof SessionRefundBody>;

export const AuthorizeBody = z.object({
  ...account,
  /** Agent id or name (X-Agent-Wallet). */
  agent: id('agent'),
  service: id('service').optional(),
  amount_micros: micros('amount_micros').optional(),
  session_id: id('session_id').optional(),
});
export type AuthorizeBody = z.infer<typeof AuthorizeBody>;

export const Eip3009Body = z.object({
  to: z.string({ error: 'to must be an address' }).regex(/^0x[0-9a-fA-F]{40}$/, 'to must be an address (0x and 40 hex characters)'),
  value: micros('value'),
  valid_after: uint('valid_after'),
  valid_before: uint('valid_before'),
  nonce,
  service: id('service').optional(),
  usage_id: id('usage_id').optional(),
});
export type Eip3009Body = z.infer<typeof Eip3009Body>;

export const IdParams = z.object({ id: id('id') });

export const NonceParams = z.object({ id: id('id'), nonce });
export type NonceParams = z.infer<typeof NonceParams>;

export const FaucetBody = z.strictObject({
  address: z.string({ error: 'address is required: the wallet to send test USDC to' }).regex(/^0x[0-9a-fA-F]{40}$/, 'address must be 0x and 40 hex characters'),
  amount: z
    .string({ error: 'amount must be a string of digits (micro-USDC), e.g. "25000000" for $25' })
    .regex(/^\d{1,13}$/, 'amount must be a string of digits (micro-USDC), e.g. "25000000" for $25')
    .transform((s) => BigInt(s))
    .refine((n) => n > 0n && n <= 1_000_000_000_000n, 'amount must be more than 0 and at most 1000000000000 ($1,000,000)')
    .default(25_000_000n),
});
export type FaucetBody = z.infer<typeof FaucetBody>;
