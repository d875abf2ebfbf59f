import { parseUsd, MoneyFormatError } from '@platform/money';

/** $1,000,000 in micro-USDC: the most one funding or debit may move (keeps sums far from BIGINT's limit). */
export const MAX_MOVEMENT_MICROS = 1_000_000_000_000n;

/**
 * A funding amount as the wire carries it ("5.00"): a decimal string, at most 6 decimals,
 * more than zero and at most $1,000,000. Answers micro-USDC, or a message saying what to fix.
 */
export function parseFundAmount(text: string): { micros: bigint } | { error: string } {
  let micros: bigint;
  try {
    micros = parseUsd(text);
  } catch (err) {
    if (err instanceof MoneyFormatError) return { error: `must be a decimal string such as "5.00" with at most 6 decimals` };
    throw err;
  }
  if (micros <= 0n) return { error: 'must be more than 0' };
  if (micros > MAX_MOVEMENT_MICROS) return { error: 'must be at most 1000000' };
  return { micros };
}

/** Integer micro-USDC as a decimal string ("50000"), the events' and internal routes' form. */
export function parseMicros(text: string): { micros: bigint } | { error: string } {
  if (!/^\d{1,16}$/.test(text)) return { error: 'must be a string of digits (integer micro-USDC), e.g. "50000"' };
  const micros = BigInt(text);
  if (micros <= 0n) return { error: 'must be more than 0' };
  if (micros > MAX_MOVEMENT_MICROS) return { error: `must be at most ${MAX_MOVEMENT_MICROS}` };
  return { micros };
}
