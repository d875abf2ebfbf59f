import { AppError } from '@platform/http';
import { ChainRefusal } from '../chain/chain.client';

/**
 * Runs a chain call; a chain that does not answer becomes a 502 the caller can retry, and a
 * transaction the chain refused a 409 with its reason, rather than a 500.
 */
export async function onChain<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof ChainRefusal) throw new AppError('CONFLICT', `The chain refused to ${what}: ${err.message}`);
    throw new AppError('BAD_GATEWAY', `The chain did not answer while trying to ${what}; retry shortly`);
  }
}

/** Micro-USDC as dollars for messages: 5000000 → "5.00". */
export function usd(micros: bigint): string {
  const neg = micros < 0n;
  const m = neg ? -micros : micros;
  const whole = m / 1_000_000n;
  let frac = (m % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}
