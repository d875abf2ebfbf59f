import { createMetering } from './metering.service';
import type { ServicePricesRepository, ServicePriceRow } from '../db/service-prices.repository';

const row = (priceMicros: bigint): ServicePriceRow =>
  ({ serviceId: 'svc-1', providerId: 'prov-1', name: 'Svc', slug: 'svc', endpoint: 'http://127.0.0.1:1/v1', priceMicros, freeTierCalls: 0, category: 'x', status: 'active' }) as ServicePriceRow;

/** A read model whose reads the test answers by hand, counting them. */
function heldPrices() {
  const pending: ((r: ServicePriceRow | null) => void)[] = [];
  const prices = { find: jest.fn(() => new Promise<ServicePriceRow | null>((resolve) => pending.push(resolve))) } as unknown as ServicePricesRepository;
  return { prices, answer: (r: ServicePriceRow | null) => pending.shift()!(r), get waiting() { return pending.length; } };
}

const meteringWith = (prices: ServicePricesRepository) =>
  createMetering({ prices, usage: {} as never, wallets: {} as never, events: {} as never, logger: { warn() {}, error() {} } as never, staleAfterMs: 60_000, priceCacheMs: 60_000 });

describe('price cache', () => {
  it('lets calls that miss together share one read, then answers from memory', async () => {
    const h = heldPrices();
    const m = meteringWith(h.prices);
    const a = m.lookup('svc-1');
    const b = m.lookup('svc-1');
    expect(h.waiting).toBe(1);
    h.answer(row(1_000n));
    expect((await a).priceMicros).toBe(1_000n);
    expect((await b).priceMicros).toBe(1_000n);
    expect((await m.lookup('svc-1')).priceMicros).toBe(1_000n);
    expect(h.prices.find).toHaveBeenCalledTimes(1);
  });

  it('does not cache a read that was in flight when the price changed', async () => {
    const h = heldPrices();
    const m = meteringWith(h.prices);
    const before = m.lookup('svc-1');
    m.forgetPrice('svc-1'); // the catalogue consumer applied a new price meanwhile
    const after = m.lookup('svc-1');
    expect(h.waiting).toBe(2);
    h.answer(row(1_000n)); // the old read answers the old price to its own caller only
    h.answer(row(2_000n));
    expect((await before).priceMicros).toBe(1_000n);
    expect((await after).priceMicros).toBe(2_000n);
    expect((await m.lookup('svc-1')).priceMicros).toBe(2_000n);
    expect(h.prices.find).toHaveBeenCalledTimes(2);
  });

  it('forgets a failed read, so the next call reads again', async () => {
    let fail = true;
    const prices = { find: jest.fn(async () => (fail ? Promise.reject(new Error('db down')) : row(3_000n))) } as unknown as ServicePricesRepository;
    const m = meteringWith(prices);
    await expect(m.lookup('svc-1')).rejects.toThrow('db down');
    fail = false;
    expect((await m.lookup('svc-1')).priceMicros).toBe(3_000n);
  });
});
