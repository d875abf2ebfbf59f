import { Wallets, startWallets, call, asBuyer, asService, ledgerCounts } from './helpers';

describe('development routes are absent unless DEV_ROUTES=true', () => {
  let w: Wallets;
  beforeAll(async () => {
    w = await startWallets({ devRoutes: false });
  });
  afterAll(async () => {
    await w.stop();
  });

  it('answers 404 for /dev/balance/fund and /dev/balance, changing nothing', async () => {
    const before = await ledgerCounts(w.svc.db);
    const f = await call(`${w.url}/dev/balance/fund`, { body: { amount: '5.00' }, headers: asBuyer('buyer-prod') });
    expect(f.status).toBe(404);
    expect(typeof f.body.detail).toBe('string');
    const g = await call(`${w.url}/dev/balance`, { headers: asBuyer('buyer-prod') });
    expect(g.status).toBe(404);
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
  });

  it('still serves the internal routes', async () => {
    const r = await call(`${w.url}/internal/balances/buyer-prod`, { headers: asService() });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ owner_id: 'buyer-prod', balance_micros: '0', leased_micros: '0' });
  });
});
