/**
 * Which calls a provider is paid out for. Payouts and the platform fee come out of money the
 * platform collected from the buyer: a `balance` debit or a payment `session` debit. An `x402`
 * call was paid by the agent's wallet straight to the provider on chain (metering answered the
 * provider's 402 challenge), so paying it out again would pay the provider twice, and there is
 * nothing collected to take a fee from. `free_tier` and `none` calls carry 0.
 *
 * An allow-list, not a deny-list: a payment method this service does not know yet is left out
 * of payouts (money must never leave for a charge the platform may not hold) until it is named here.
 */
export const PLATFORM_COLLECTED_METHODS: readonly string[] = ['balance', 'session'];

export const isPlatformCollected = (paymentMethod: string): boolean => PLATFORM_COLLECTED_METHODS.includes(paymentMethod);

/** One group of a provider's calls by payment method; amounts are micro-USDC. */
export interface MethodTotal {
  paymentMethod: string;
  callCount: number;
  amountMicros: bigint;
}

export interface ProviderTotals {
  /** Every call, x402 and free ones included: the provider's usage statistics. */
  callCount: number;
  totalMicros: bigint;
  /** Only calls the platform collected: what a payout and its platform fee are computed on. */
  payableCallCount: number;
  payableMicros: bigint;
}

export function providerTotals(groups: readonly MethodTotal[]): ProviderTotals {
  const t: ProviderTotals = { callCount: 0, totalMicros: 0n, payableCallCount: 0, payableMicros: 0n };
  for (const g of groups) {
    t.callCount += g.callCount;
    t.totalMicros += g.amountMicros;
    if (isPlatformCollected(g.paymentMethod)) {
      t.payableCallCount += g.callCount;
      t.payableMicros += g.amountMicros;
    }
  }
  return t;
}

export interface Payout {
  callCount: number;
  totalMicros: bigint;
  feeMicros: bigint;
  netMicros: bigint;
}

/**
 * A provider's payout for some totals (spec 002 settlement: total_amount, platform_fee,
 * net_amount, call_count). It reads only the payable part, so an x402 call can reach neither
 * the payout nor the fee. The fee rate is in basis points (1000 = 10%, spec 002's example);
 * it rounds down, so a fraction of a micro stays with the provider.
 */
export function payoutOf(totals: ProviderTotals, feeBps: number): Payout {
  if (!Number.isInteger(feeBps) || feeBps < 0 || feeBps > 10_000) throw new RangeError(`fee rate must be 0..10000 basis points, got ${feeBps}`);
  const feeMicros = (totals.payableMicros * BigInt(feeBps)) / 10_000n;
  return { callCount: totals.payableCallCount, totalMicros: totals.payableMicros, feeMicros, netMicros: totals.payableMicros - feeMicros };
}
