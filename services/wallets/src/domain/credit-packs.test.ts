import { DEFAULT_CREDIT_PACKS, centsToUsd, parseCreditPacks } from './credit-packs';

describe('parseCreditPacks', () => {
  it('reads spec 000 packs by default', () => {
    expect(parseCreditPacks(DEFAULT_CREDIT_PACKS)).toEqual({
      packs: [
        { id: 'starter', credits: 5000, priceCents: 5000 },
        { id: 'growth', credits: 22000, priceCents: 20000 },
        { id: 'scale', credits: 120000, priceCents: 100000 },
      ],
    });
  });

  it('reads cents exactly, never through floating point', () => {
    expect(parseCreditPacks('mini:100:0.5, odd:333:19.99')).toEqual({
      packs: [
        { id: 'mini', credits: 100, priceCents: 50 },
        { id: 'odd', credits: 333, priceCents: 1999 },
      ],
    });
  });

  it.each([
    ['', /at least one pack/],
    ['starter:5000', /id:credits:price_usd/],
    ['starter:5000:50:1', /id:credits:price_usd/],
    ['Starter:5000:50', /not a pack id/],
    ['starter:0:50', /credits must be a whole number above 0/],
    ['starter:1.5:50', /credits must be a whole number/],
    ['starter:5000:50.001', /at most 2 decimals/],
    ['starter:5000:-1', /at most 2 decimals/],
    ['starter:5000:0.49', /at least 0.50/],
    ['a:1:1,a:2:2', /listed twice/],
  ])('refuses %j', (text, message) => {
    const r = parseCreditPacks(text);
    expect('error' in r && r.error).toMatch(message);
  });

  it('writes dollars as spec 000 does', () => {
    expect(centsToUsd(5000)).toBe(50);
    expect(centsToUsd(1999)).toBe(19.99);
  });
});
