import { startWallets, Wallets, asBuyer, asService, call } from './helpers';
import { asUser } from './chain-helpers';

/**
 * A malformed JSON body is answered in the shape of the route's family: spec 001 routes
 * (agents, policy, sessions, transactions, balance) `{"error": …}`, the internal and dev
 * routes `{"detail": …}`, spec 000 credits `{"ok": false, …}`.
 */
describe('malformed JSON bodies per error family', () => {
  let w: Wallets;
  beforeAll(async () => {
    w = await startWallets();
  });
  afterAll(() => w?.stop());

  const me = asUser('json-user');
  const broken = '{"name": "bot",';
  const id = '0b6f3c52-4d0e-4c59-9d7e-2f1c8a1b2c3d';

  it.each([
    ['POST', '/agents'],
    ['PUT', `/agents/${id}`],
    ['PUT', `/agents/${id}/policy`],
    ['POST', `/agents/${id}/fund`],
    ['POST', `/agents/${id}/drain`],
    ['POST', '/sessions'],
    ['POST', `/sessions/${id}/close`],
    ['POST', '/transactions'],
    ['POST', '/balance'],
  ])('%s %s answers 400 {"error"}', async (method, path) => {
    const r = await call(`${w.url}${path}`, { method, body: broken, headers: me });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'Request body is not valid JSON', request_id: expect.any(String) });
  });

  it('answers an oversized spec 001 body with 413 {"error"}, and a well-formed one reaches the route', async () => {
    const big = await call(`${w.url}/agents`, { body: JSON.stringify({ name: 'x'.repeat(1_100_000) }), headers: me });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ error: 'Request body is too large' });
    // Parsed, then answered by the route (agent wallets are off without a chain here).
    const ok = await call(`${w.url}/agents`, { body: { name: 'bot' }, headers: me });
    expect(ok.status).toBe(503);
    expect(ok.body.error).toMatch(/CHAIN_RPC_URL/);
  });

  it('keeps the other families as they were', async () => {
    const internal = await call(`${w.url}/internal/debits`, { body: broken, headers: asService() });
    expect(internal.status).toBe(400);
    expect(internal.body).toMatchObject({ detail: 'Request body is not valid JSON' });
    expect(internal.body).not.toHaveProperty('error');
    const dev = await call(`${w.url}/dev/balance/fund`, { body: broken, headers: asBuyer('json-buyer') });
    expect(dev.status).toBe(400);
    expect(dev.body).toMatchObject({ detail: 'Request body is not valid JSON' });
    const credits = await call(`${w.url}/agent-credits`, { body: broken, headers: asBuyer('json-buyer') });
    expect(credits.status).toBe(400);
    expect(credits.body).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    // A path that merely starts like a spec 001 one is not in the family.
    const stray = await call(`${w.url}/agentsx`, { body: broken, headers: me });
    expect(stray.status).toBe(404);
    expect(stray.body).toHaveProperty('detail');
  });
});
