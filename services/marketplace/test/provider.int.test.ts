import { eventually, startUpstream, Upstream } from '@platform/testing';
import type { Principal } from '@platform/auth';
import { startMarketplace, Marketplace, call, principal, called } from './support/harness';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;
const DAY = 86_400_000;

// Each suite starts its own service on a fresh database; under a loaded machine that takes seconds.
jest.setTimeout(30_000);

/** Spec 002 "Provider Portal": My Services, Test Service Endpoint, Onboarding Progress. */
describe('provider portal', () => {
  let m: Marketplace;
  let strict: Marketplace;
  let base: string;
  let api: Upstream;
  let elsewhere: Upstream;
  let redirecting: Upstream;
  let silent: Upstream;
  const prov = principal('prov-1', 'provider');
  const other = principal('prov-2', 'provider');
  const buyer = principal('buyer-1', 'buyer');
  const admin = principal('root', 'admin');

  const register = async (m0: Marketplace, as: Principal, body: Record<string, unknown>) => {
    const r = await call(m0.svc.url, 'POST', '/api/v1/services', { as, body: { price_per_call: '0.05', ...body } });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };

  beforeAll(async () => {
    api = await startUpstream();
    elsewhere = await startUpstream();
    redirecting = await startUpstream((_req, _body, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${elsewhere.url}/stolen`);
      res.end();
    });
    silent = await startUpstream(() => undefined); // never answers
    m = await startMarketplace({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', ENDPOINT_TEST_TIMEOUT_MS: '2000' });
    strict = await startMarketplace();
    base = m.svc.url;
  });
  afterAll(async () => {
    await m?.stop();
    await strict?.stop();
    for (const u of [api, elsewhere, redirecting, silent]) await u?.close();
  });

  describe('GET /api/v1/provider/services', () => {
    it('lists only the caller’s services, every status, with calls, revenue and latency from service.called', async () => {
      const live = await register(m, prov, { name: 'CoinSifter API', description: 'Crypto scanner', endpoint: `${api.url}/v1`, price_per_call: '0.50', category: 'crypto' });
      const paused = await register(m, prov, { name: 'Quiet', endpoint: `${api.url}/quiet` });
      await call(base, 'PATCH', `/api/v1/services/${paused}`, { as: prov, body: { status: 'paused' } });
      await register(m, other, { name: 'Not mine', endpoint: 'https://other.example.com' });

      const emit = (amount: string, latency: number, time?: Date) =>
        m.emit('metering', 'service.called', live, called({ service_id: live, buyer_id: 'b', provider_id: 'prov-1', amount_micros: amount, latency_ms: latency }), { time });
      await emit('500000', 100);
      await emit('500000', 150);
      await emit('0', 50); // a free-tier call counts as a call, not as revenue
      await emit('500000', 200, new Date(Date.now() - 40 * DAY)); // totals are all-time

      const r = await eventually(async () => {
        const x = await call(base, 'GET', '/api/v1/provider/services', { as: prov });
        return x.body.services?.find((s: { id: string }) => s.id === live)?.total_calls === 4 ? x : undefined;
      }, 10_000);
      expect(r.status).toBe(200);
      expect(Object.keys(r.body)).toEqual(['services']);
      expect(r.body.services.map((s: { name: string }) => s.name)).toEqual(['Quiet', 'CoinSifter API']);
      expect(r.body.services[1]).toEqual({
        id: live,
        name: 'CoinSifter API',
        description: 'Crypto scanner',
        endpoint: `${api.url}/v1`,
        price_per_call: '0.50',
        status: 'active',
        category: 'crypto',
        total_calls: 4,
        total_revenue: 1.5,
        avg_latency_ms: 125,
        created_at: expect.stringMatching(ISO),
      });
      expect(r.body.services[0]).toMatchObject({ status: 'paused', total_calls: 0, total_revenue: 0, avg_latency_ms: 0 });
      expect((await call(base, 'GET', '/api/v1/provider/services?limit=1&offset=1', { as: prov })).body.services.map((s: { id: string }) => s.id)).toEqual([live]);
    });

    it('asks for a key (401) and the provider role (403)', async () => {
      const anon = await call(base, 'GET', '/api/v1/provider/services');
      expect(anon.status).toBe(401);
      expect(anon.body.detail).toBe('Missing or invalid API key');
      const asBuyer = await call(base, 'GET', '/api/v1/provider/services', { as: buyer });
      expect(asBuyer.status).toBe(403);
      expect(asBuyer.body.detail).toMatch(/provider or admin/);
      expect((await call(base, 'GET', '/api/v1/provider/services?limit=0', { as: prov })).status).toBe(400);
    });
  });

  describe('POST /api/v1/provider/services/{id}/test', () => {
    it('reaches the endpoint with one GET and reports status and latency', async () => {
      const id = await register(m, prov, { name: 'Reachable', endpoint: `${api.url}/v1` });
      const before = api.requests.length;
      const r = await call(base, 'POST', `/api/v1/provider/services/${id}/test`, { as: prov });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ service_id: id, endpoint: `${api.url}/v1`, reachable: true, latency_ms: expect.any(Number), status_code: 200, error: '' });
      expect(Number.isInteger(r.body.latency_ms)).toBe(true);
      expect(api.requests.slice(before).map((q) => [q.method, q.url])).toEqual([['GET', '/v1']]);
    });

    it('reports a redirect without following it', async () => {
      const id = await register(m, prov, { name: 'Redirects', endpoint: `${redirecting.url}/v1` });
      const r = await call(base, 'POST', `/api/v1/provider/services/${id}/test`, { as: prov });
      expect(r.body).toMatchObject({ reachable: true, status_code: 302, error: '' });
      expect(elsewhere.requests).toHaveLength(0);
    });

    it('reports a refused connection and a timeout as unreachable, status 0', async () => {
      const closed = await startUpstream();
      const port = closed.port;
      await closed.close();
      const refused = await register(m, prov, { name: 'Down', endpoint: `http://127.0.0.1:${port}/v1` });
      const r = await call(base, 'POST', `/api/v1/provider/services/${refused}/test`, { as: prov });
      expect(r.body).toMatchObject({ service_id: refused, reachable: false, status_code: 0, error: 'Connection refused' });

      const slow = await register(m, prov, { name: 'Silent', endpoint: `${silent.url}/v1` });
      const t = await call(base, 'POST', `/api/v1/provider/services/${slow}/test`, { as: prov });
      expect(t.body).toEqual({ service_id: slow, endpoint: `${silent.url}/v1`, reachable: false, latency_ms: 2000, status_code: 0, error: 'Connection timed out' });
    });

    it('refuses private, loopback and link-local endpoints that are not allow-listed (400), contacting nothing', async () => {
      const sp = principal('prov-strict', 'provider');
      const before = api.requests.length;
      for (const endpoint of [`${api.url}/v1`, `http://localhost:${api.port}/v1`, 'http://169.254.169.254/latest/meta-data', 'http://10.0.0.8/', 'http://[::1]:9/']) {
        const id = await register(strict, sp, { name: 'Inside', endpoint });
        const r = await call(strict.svc.url, 'POST', `/api/v1/provider/services/${id}/test`, { as: sp });
        expect(r.status).toBe(400);
        expect(r.body.detail).toMatch(/^Endpoint refused: .*private, loopback or link-local/);
      }
      expect(api.requests.length).toBe(before);
    });

    it('is the owner’s: 403 "Not your service" for another provider, 404 for no such service', async () => {
      const id = await register(m, prov, { name: 'Owned', endpoint: `${api.url}/v1` });
      const before = api.requests.length;
      const denied = await call(base, 'POST', `/api/v1/provider/services/${id}/test`, { as: other });
      expect(denied.status).toBe(403);
      expect(denied.body.detail).toBe('Not your service');
      expect(api.requests.length).toBe(before);
      expect((await call(base, 'POST', `/api/v1/provider/services/${id}/test`, { as: buyer })).status).toBe(403);
      expect((await call(base, 'POST', `/api/v1/provider/services/${id}/test`, { as: admin })).body.reachable).toBe(true);
      const missing = await call(base, 'POST', '/api/v1/provider/services/00000000-0000-4000-8000-000000000000/test', { as: prov });
      expect(missing.status).toBe(404);
      expect(missing.body.detail).toBe('Service not found');
      expect((await call(base, 'POST', '/api/v1/provider/services/nope/test', { as: prov })).status).toBe(404);
    });
  });

  describe('GET /api/v1/provider/onboarding', () => {
    const steps = (body: { steps: Record<string, { completed: boolean }> }) => Object.fromEntries(Object.entries(body.steps).map(([k, v]) => [k, v.completed]));
    // A session (JWT) principal holds no key: the create_api_key step then waits for key.created.
    const viaJwt: Principal = { owner_id: 'prov-new', kind: 'jwt', key_id: null, roles: ['provider'], org_id: null, rate_limit: null };

    it('walks the five steps from events and registry state', async () => {
      const r0 = await call(base, 'GET', '/api/v1/provider/onboarding', { as: viaJwt });
      expect(r0.status).toBe(200);
      expect(r0.body).toEqual({
        provider_id: 'prov-new',
        steps: {
          create_api_key: { completed: false, label: 'Create API key' },
          register_service: { completed: false, label: 'Register your first service' },
          activate_service: { completed: false, label: 'Activate a service' },
          first_traffic: { completed: false, label: 'Receive first API call' },
          first_settlement: { completed: false, label: 'Complete first settlement' },
        },
        completed_steps: 0,
        total_steps: 5,
        completion_pct: 0,
      });

      await m.emit('identity', 'key.created', 'acf_new', { key_id: 'acf_new', owner_id: 'prov-new', role: 'provider', rate_limit: 60, family: 'acf' });
      await eventually(async () => (await call(base, 'GET', '/api/v1/provider/onboarding', { as: viaJwt })).body.steps.create_api_key.completed, 10_000);

      const id = await register(m, viaJwt, { name: 'First', endpoint: 'https://first.example.com' });
      const r3 = await call(base, 'GET', '/api/v1/provider/onboarding', { as: viaJwt });
      expect(r3.body).toMatchObject({ completed_steps: 3, total_steps: 5, completion_pct: 60 });
      expect(steps(r3.body)).toEqual({ create_api_key: true, register_service: true, activate_service: true, first_traffic: false, first_settlement: false });

      await call(base, 'PATCH', `/api/v1/services/${id}`, { as: viaJwt, body: { status: 'paused' } });
      expect(steps((await call(base, 'GET', '/api/v1/provider/onboarding', { as: viaJwt })).body).activate_service).toBe(false);
      await call(base, 'PATCH', `/api/v1/services/${id}`, { as: viaJwt, body: { status: 'active' } });

      await m.emit('metering', 'service.called', id, called({ service_id: id, buyer_id: 'b', provider_id: 'prov-new' }));
      await m.emit('settlements', 'settlement.completed', 'stl-1', { settlement_id: 'stl-1', provider_id: 'prov-new', net_micros: '45000', payment_tx: '0xabc' });
      const done = await eventually(async () => {
        const x = await call(base, 'GET', '/api/v1/provider/onboarding', { as: viaJwt });
        return x.body.completed_steps === 5 ? x : undefined;
      }, 10_000);
      expect(done.body.completion_pct).toBe(100);
    });

    it('counts the caller’s own API key as the first step', async () => {
      const r = await call(base, 'GET', '/api/v1/provider/onboarding', { as: principal('prov-keyed', 'provider') });
      expect(r.body).toMatchObject({ provider_id: 'prov-keyed', completed_steps: 1, completion_pct: 20 });
      expect(r.body.steps.create_api_key.completed).toBe(true);
    });

    it('asks for a key (401) and the provider role (403)', async () => {
      expect((await call(base, 'GET', '/api/v1/provider/onboarding')).status).toBe(401);
      expect((await call(base, 'GET', '/api/v1/provider/onboarding', { as: buyer })).status).toBe(403);
    });
  });
});
