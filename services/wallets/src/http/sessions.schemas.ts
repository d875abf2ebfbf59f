import { z } from 'zod';
import { MoneyFormatError, parseUsd } from '@platform/money';
import { DEFAULT_SESSION_S, MAX_SESSION_S } from '../domain/sessions.service';
import { MAX_MOVEMENT_MICROS } from '../domain/amounts';

/** Spec 001 sends dollars: "deposit_amount": 5.00 (a JSON number; a decimal string is accepted too). */
const dollars = z.union([z.number(), z.string()], { error: 'deposit_amount is required: US dollars of USDC, e.g. 5.00' }).transform((v, ctx) => {
  const text = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'x') : v.trim();
  let micros: bigint;
  try {
    micros = parseUsd(text);
  } catch (err) {
    if (!(err instanceof MoneyFormatError)) throw err;
    ctx.addIssue({ code: 'custom', message: 'deposit_amount must be US dollars with at most 6 decimals, e.g. 5.00' });
    return z.NEVER;
  }
  if (micros <= 0n) ctx.addIssue({ code: 'custom', message: 'deposit_amount must be more than 0' });
  else if (micros > MAX_MOVEMENT_MICROS) ctx.addIssue({ code: 'custom', message: 'deposit_amount must be at most 1000000' });
  return micros;
});

export const OpenSessionBody = z.strictObject({
  agent_wallet_id: z.string({ error: 'agent_wallet_id is required: the id of the agent wallet that deposits' }).min(1, 'agent_wallet_id is required').max(100),
  deposit_amount: dollars,
  duration: z
    .number({ error: `duration must be a whole number of seconds from 1 to ${MAX_SESSION_S}` })
    .int(`duration must be a whole number of seconds from 1 to ${MAX_SESSION_S}`)
    .min(1, 'duration must be at least 1 second')
    .max(MAX_SESSION_S, `duration must be at most ${MAX_SESSION_S} seconds (24 h)`)
    .default(DEFAULT_SESSION_S),
});
export type OpenSessionBody = z.infer<typeof OpenSessionBody>;

export const SessionParams = z.object({ id: z.string().min(1).max(100) });

export const SessionsQuery = z.object({
  limit: z.coerce.number({ error: 'limit must be an integer from 1 to 100' }).int('limit must be an integer from 1 to 100').min(1, 'limit must be at least 1').max(100, 'limit must be at most 100').default(20),
  offset: z.coerce.number({ error: 'offset must be an integer ≥ 0' }).int('offset must be an integer ≥ 0').min(0, 'offset must be ≥ 0').max(1_000_000).default(0),
  agent_wallet_id: z.string().uuid('agent_wallet_id must be a uuid').optional(),
  status: z.enum(['open', 'closed'], { error: 'status must be open or closed' }).optional(),
});
export type SessionsQuery = z.infer<typeof SessionsQuery>;
