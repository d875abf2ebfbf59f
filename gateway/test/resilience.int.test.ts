import http from 'node:http';
import { eventually } from '@platform/testing';
import { Stack, startStack, startStub, call, newBuyerKey } from './support';

describe('gateway when services fail', () => {
  let s: Stack;

  beforeAll(async () => {
    s = await startStack('gw_resilience');
  });
  afterAll(() => s.stop());

  it('answers 503 naming a service that is down, keeps the others working, and recovers when it returns', async () => {
    const market = s.stubs.marketplace;
    await market.close();
    const down = await call(s.url, 'GET', '/api/v1/services');
    expect(down.status).toBe(503);
    expect(down.body.detail).toBe('marketplace service is unavailable');
    expect(down.body.request_id).toBe(down.headers.get('x-request-id'));

    const key = await newBuyerKey(s.url, 'resilient');
    expect((await call(s.url, 'GET', '/api/v1/webhooks', { headers: { authorization: key.bearer } })).status).toBe(200);
    expect((await call(s.url, 'GET', '/api/v1/agents/a1/reputation')).status).toBe(200);

    const back = await startStub('marketplace', market.port);
    s.stubs.marketplace = back;
    const res = await eventually(async () => {
      const r = await call(s.url, 'GET', '/api/v1/services');
      return r.status === 200 && r;
    }, 5_000);
    expect(res.body.service).toBe('marketplace');
  });

  it('answers 503 in the route family of spec 001 and spec 000 routes', async () => {
    const wallets = s.stubs.wallets;
    await wallets.close();
    const key = await newBuyerKey(s.url, 'family-503');
    const e = await call(s.url, 'GET', '/balance', { headers: { authorization: key.bearer } });
    expect(e.status).toBe(503);
    expect(e.body.error).toBe('wallets service is unavailable');
    const ok = await call(s.url, 'GET', '/agent-credits', { headers: { authorization: key.bearer } });
    expect(ok.status).toBe(503);
    expect(ok.body).toMatchObject({ ok: false, error: { code: 'unavailable', message: 'wallets service is unavailable' } });
    s.stubs.wallets = await startStub('wallets', wallets.port);
  });

  it('answers 504 when a service does not answer in time', async () => {
    const hanging = await startSilentServer();
    try {
      const g = await s.gatewayWith({ PROXY_TIMEOUT_MS: '300', WEBHOOKS_URL: hanging.url });
      const key = await newBuyerKey(s.url, 'slow-caller');
      const res = await call(g.url, 'GET', '/api/v1/webhooks', { headers: { authorization: key.bearer } });
      expect(res.status).toBe(504);
      expect(res.body.detail).toBe('webhooks service did not answer in time');
    } finally {
      hanging.close();
    }
  });

  it('spreads a service\'s calls round-robin across its replicas', async () => {
    const a = await startStub('metering');
    const b = await startStub('metering');
    try {
      const g = await s.gatewayWith({ METERING_URL: `${a.url}, ${b.url}` });
      const key = await newBuyerKey(s.url, 'round-robin');
      for (let i = 0; i < 4; i++) expect((await call(g.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } })).status).toBe(200);
      expect(a.requests).toHaveLength(2);
      expect(b.requests).toHaveLength(2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('with identity down: new credentials get 503, warm ones and public routes keep working', async () => {
    const key = await newBuyerKey(s.url, 'warm-before-outage');
    expect((await call(s.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } })).status).toBe(200);
    const cold = await newBuyerKey(s.url, 'cold-during-outage');
    await s.identity.stop();

    const remote = s.gateway.verifier.stats.remote;
    expect((await call(s.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } })).status).toBe(200);
    expect(s.gateway.verifier.stats.remote).toBe(remote);
    const res = await call(s.url, 'GET', '/api/v1/usage/me', { headers: { authorization: cold.bearer } });
    expect(res.status).toBe(503);
    expect(res.body.detail).toBe('identity service is unavailable');
    expect((await call(s.url, 'GET', '/api/v1/discover')).status).toBe(200);
    expect((await call(s.url, 'POST', '/api/v1/keys', { body: { owner_id: 'x' } })).body.detail).toBe('identity service is unavailable');
  });
});

/** Accepts connections and never answers. */
function startSilentServer(): Promise<{ url: string; close: () => void }> {
  const server = http.createServer(() => undefined);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      }),
    ),
  );
}
