import { isPlatformCollected, payoutOf, providerTotals } from './payout';

describe('payout rule', () => {
  it('pays out balance and session calls only; x402 and unknown methods are not platform money', () => {
    expect(['balance', 'session'].every(isPlatformCollected)).toBe(true);
    expect(['x402', 'free_tier', 'none', 'onchain', ''].some(isPlatformCollected)).toBe(false);
  });

  it('folds method groups into usage statistics and the payable part', () => {
    const t = providerTotals([
      { paymentMethod: 'balance', callCount: 3, amountMicros: 150_000n },
      { paymentMethod: 'x402', callCount: 2, amountMicros: 9_007_199_254_740_993n },
      { paymentMethod: 'free_tier', callCount: 4, amountMicros: 0n },
      { paymentMethod: 'session', callCount: 1, amountMicros: 25_000n },
    ]);
    expect(t).toEqual({ callCount: 10, totalMicros: 9_007_199_254_915_993n, payableCallCount: 4, payableMicros: 175_000n });
  });

  it('takes the fee from the payable part only, rounding down in the provider’s favour', () => {
    const t = { callCount: 5, totalMicros: 1_000_033n, payableCallCount: 2, payableMicros: 33n };
    expect(payoutOf(t, 1000)).toEqual({ callCount: 2, totalMicros: 33n, feeMicros: 3n, netMicros: 30n });
    expect(payoutOf(t, 0)).toEqual({ callCount: 2, totalMicros: 33n, feeMicros: 0n, netMicros: 33n });
    expect(() => payoutOf(t, 10_001)).toThrow(RangeError);
    expect(() => payoutOf(t, 2.5)).toThrow(RangeError);
  });
});
