import { parseUsd, formatUsd, formatDollars4, isUsd } from './index';

describe('money', () => {
  it('parses decimal strings exactly', () => {
    expect(parseUsd('0.05')).toBe(50_000n);
    expect(parseUsd('25')).toBe(25_000_000n);
    expect(parseUsd('0.000001')).toBe(1n);
    expect(parseUsd('10.5')).toBe(10_500_000n);
  });
  it('refuses what is not a plain non-negative decimal', () => {
    for (const bad of ['-1', '1e3', '0.0000001', 'abc', '', '01', '1.', '.5']) {
      expect(isUsd(bad)).toBe(false);
      expect(() => parseUsd(bad)).toThrow(/decimal amount/);
    }
  });
  it('formats back without losing digits', () => {
    expect(formatUsd(50_000n)).toBe('0.05');
    expect(formatUsd(1n)).toBe('0.000001');
    expect(formatUsd(25_000_000n)).toBe('25.00');
    expect(formatUsd(0n)).toBe('0.00');
    expect(formatDollars4(10_000n)).toBe('$0.0100');
    expect(formatDollars4(4_990_000n)).toBe('$4.9900');
  });
});
