import { parseFundAmount, parseMicros, MAX_MOVEMENT_MICROS } from './amounts';

describe('amounts on the wire', () => {
  it('reads funding amounts as exact micro-USDC', () => {
    expect(parseFundAmount('5.00')).toEqual({ micros: 5_000_000n });
    expect(parseFundAmount('0.000001')).toEqual({ micros: 1n });
    expect(parseFundAmount('1000000')).toEqual({ micros: MAX_MOVEMENT_MICROS });
    expect(parseFundAmount('0.1')).toEqual({ micros: 100_000n });
  });

  it.each([
    ['0', /more than 0/],
    ['0.000000', /more than 0/],
    ['1000000.000001', /at most 1000000/],
    ['1.1234567', /at most 6 decimals/],
    ['-1', /decimal string/],
    ['1e3', /decimal string/],
    ['', /decimal string/],
    ['$5', /decimal string/],
  ])('refuses the funding amount %j', (text, message) => {
    const r = parseFundAmount(text);
    expect('error' in r && r.error).toMatch(message);
  });

  it('reads integer micro-USDC strings and refuses anything else', () => {
    expect(parseMicros('50000')).toEqual({ micros: 50_000n });
    for (const bad of ['0', '-1', '1.5', ' 5', '5 ', 'abc', '', '99999999999999999']) expect('error' in parseMicros(bad)).toBe(true);
    expect(parseMicros(String(MAX_MOVEMENT_MICROS + 1n))).toEqual({ error: `must be at most ${MAX_MOVEMENT_MICROS}` });
  });
});
