/**
 * Money is integers in the smallest unit: micro-USDC (6 decimals), as USDC on chain.
 * Decimal strings on the wire ("0.05") convert exactly; floats never enter the arithmetic.
 */
export const USDC_DECIMALS = 6;
const SCALE = 10n ** BigInt(USDC_DECIMALS);

export class MoneyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MoneyFormatError';
  }
}

const DECIMAL = /^(0|[1-9]\d{0,14})(\.(\d{1,6}))?$/;

/** "0.05" -> 50000n. Refuses negatives, exponents and more than 6 decimals. */
export function parseUsd(text: string): bigint {
  const m = DECIMAL.exec(text.trim());
  if (!m) throw new MoneyFormatError(`"${text}" is not a decimal amount with at most ${USDC_DECIMALS} decimals`);
  const whole = BigInt(m[1]);
  const frac = BigInt((m[3] ?? '').padEnd(USDC_DECIMALS, '0'));
  return whole * SCALE + frac;
}

export function isUsd(text: string): boolean {
  return DECIMAL.test(text.trim());
}

/** 50000n -> "0.05"; keeps at least two decimals, trims the rest ("1.5" -> "1.50"). */
export function formatUsd(micros: bigint | number, minDecimals = 2): string {
  const v = BigInt(micros);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const whole = abs / SCALE;
  let frac = (abs % SCALE).toString().padStart(USDC_DECIMALS, '0').replace(/0+$/, '');
  if (frac.length < minDecimals) frac = frac.padEnd(minDecimals, '0');
  return `${neg ? '-' : ''}${whole}${frac ? '.' + frac : ''}`;
}

/** "$0.0100" as spec 001 shows costs: four decimals. */
export function formatDollars4(micros: bigint | number): string {
  const v = BigInt(micros);
  const hundredths = (v + 50n) / 100n; // micro -> 1e-4 units, rounded half up
  const whole = hundredths / 10000n;
  const frac = (hundredths % 10000n).toString().padStart(4, '0');
  return `$${whole}.${frac}`;
}

/** Micro-USDC as a JS number for JSON fields the specs show as numbers (e.g. 750.0). Display only. */
export function toUsdNumber(micros: bigint | number): number {
  return Number(formatUsd(micros, 0));
}
