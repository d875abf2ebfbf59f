import { verifyPrincipal, signPrincipal } from '@platform/auth';
import { TEST_SECRET } from '@platform/testing';
import { Stack, startStack, call, newBuyerKey, BOOTSTRAP_ADMIN } from './support';

describe('gateway routing, headers and auth', () => {
  let s: Stack;

  beforeAll(async () => {
    s = await startStack('gw_routing');
  });
  afterAll(() => s.stop());

  describe('serves itself', () => {
    it('GET / and GET /health as spec 002 shows', async () => {
      const root = await call(s.url, 'GET', '/');
      expect(root.status).toBe(200);
      expect(root.body).toEqual({ service: 'Agent Commerce Framework', version: '0.6.0', docs: '/docs' });
      const health = await call(s.url, 'GET', '/health');
      expect(health.status).toBe(200);
      expect(Object.keys(health.body)).toEqual(['status', 'timestamp']);
      expect(health.body.status).toBe('ok');
      expect(health.body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
      expect((await call(s.url, 'GET', '/ready')).status).toBe(200);
    });

    it('the spec 000 discovery documents list the route families', async () => {
      const llms = await call(s.url, 'GET', '/llms.txt');
      expect(llms.status).toBe(200);
      expect(llms.headers.get('content-type')).toMatch(/text\/plain/);
      for (const name of ['identity', 'wallets', 'marketplace', 'metering', 'reputation', 'settlements', 'runtime', 'webhooks']) expect(llms.body).toContain(`- ${name}:`);
      expect(llms.body).toContain('/agent-onboard');
      expect((await call(s.url, 'GET', '/llms-full.txt')).body).toContain('/api/v1/proxy/*');

      const agents = await call(s.url, 'GET', '/agents.json');
      expect(agents.body.onboarding).toMatchObject({ method: 'POST', url: 'http://localhost:8000/agent-onboard' });
      expect(agents.body.route_families.map((f: { service: string }) => f.service)).toHaveLength(8);
      const identity = agents.body.route_families.find((f: { service: string }) => f.service === 'identity');
      expect(identity.routes).toContainEqual({ path: '/api/v1/keys*', auth: 'optional', error_shape: 'detail' });

      const plugin = await call(s.url, 'GET', '/.well-known/ai-plugin.json');
      expect(plugin.body).toMatchObject({ schema_version: 'v1', name_for_human: 'Agent Commerce Framework', auth: { type: 'service_http' } });
    });
  });

  describe('routes each family to its service', () => {
    it.each([
      ['GET', '/api/v1/agents/a1/reputation', 'reputation'],
      ['GET', '/api/v1/agents/trust/leaderboard', 'reputation'],
      ['GET', '/api/v1/services?limit=5', 'marketplace'],
      ['GET', '/api/v1/discover/trending', 'marketplace'],
      ['GET', '/api/v1/proxy/svc-1/v1/sentiment?q=1', 'metering'],
      ['GET', '/.well-known/agent-pay.md', 'metering'],
      ['GET', '/agents', 'wallets'],
      ['GET', '/agent-credits', 'wallets'],
      ['GET', '/api/v1/settlements', 'settlements'],
      ['GET', '/api/v1/provider/services/s1/analytics', 'settlements'],
      ['POST', '/v1/agent/create', 'runtime'],
      ['POST', '/v1/webhooks/triggers/trg-1', 'runtime'],
      ['POST', '/validate', 'runtime'],
      ['GET', '/api/v1/webhooks', 'webhooks'],
    ])('%s %s -> %s, path and query untouched', async (method, path, service) => {
      const key = await newBuyerKey(s.url, `router-${service}-${Math.random().toString(36).slice(2, 8)}`);
      const res = await call(s.url, method, path, { headers: { authorization: key.bearer } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ service, method, url: path });
    });

    it('identity routes reach the real identity service', async () => {
      const key = await newBuyerKey(s.url, 'router-identity');
      const res = await call(s.url, 'POST', '/api/v1/keys/validate', { body: { key_id: key.key_id, secret: key.secret } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ valid: true, owner_id: 'router-identity', role: 'buyer', rate_limit: 60 });
      const onboard = await call(s.url, 'POST', '/agent-onboard', { body: { agent_identity: 'gw/1', org_name: 'Via Gateway' } });
      expect(onboard.status).toBe(201);
      expect(onboard.body.ok).toBe(true);
      // The onboarding key works at the gateway straight away.
      const stub = s.stubs.wallets;
      const credits = await call(s.url, 'GET', '/agent-credits', { headers: { authorization: `Bearer ${onboard.body.data.api_key}` } });
      expect(credits.status).toBe(200);
      const principal = verifyPrincipal(stub.requests.at(-1)!.headers['x-internal-principal'] as string, TEST_SECRET);
      expect(principal).toMatchObject({ kind: 'bks_key', owner_id: onboard.body.data.org_id, org_id: onboard.body.data.org_id, roles: ['buyer'] });
    });

    it('never routes /internal/* and answers unknown paths 404 in their family', async () => {
      for (const path of ['/internal/credentials/verify', '/INTERNAL/credentials/verify', '/api/v1/keys/../../internal/credentials/verify']) {
        const res = await call(s.url, 'POST', path, { body: { credential: BOOTSTRAP_ADMIN } });
        expect(res.status).toBe(404);
        expect(res.body.principal).toBeUndefined();
      }
      expect((await call(s.url, 'GET', '/api/v1/nothing')).body.detail).toMatch(/No route/);
      expect((await call(s.url, 'GET', '/runsx')).body.detail).toBeDefined();
      expect((await call(s.url, 'GET', '/agent-onboard/x')).body).toMatchObject({ ok: false, error: { code: 'not_found' } });
    });
  });

  describe('headers', () => {
    it('strips client-sent internal headers and sets its own principal, request id and traceparent', async () => {
      const stub = s.stubs.marketplace;
      const forged = signPrincipal({ owner_id: 'evil', kind: 'acf_key', key_id: 'acf_forged', roles: ['admin'], org_id: null, rate_limit: null }, TEST_SECRET);
      const key = await newBuyerKey(s.url, 'header-owner');

      // Public route, no credential: the forged header must not survive, and none is set.
      const before = stub.requests.length;
      const anon = await call(s.url, 'GET', '/api/v1/services', { headers: { 'x-internal-principal': forged, 'x-internal-service': 'wallets', 'x-forwarded-principal': 'evil' } });
      expect(anon.status).toBe(200);
      const seenAnon = stub.requests[before].headers;
      expect(seenAnon['x-internal-principal']).toBeUndefined();
      expect(seenAnon['x-internal-service']).toBeUndefined();
      expect(seenAnon['x-forwarded-principal']).toBeUndefined();

      // With a credential: the service gets the gateway's principal, not the forged one, and no raw secret.
      const res = await call(s.url, 'GET', '/api/v1/services', {
        headers: { authorization: key.bearer, 'x-internal-principal': forged, 'x-request-id': 'client-req-42', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      });
      expect(res.headers.get('x-request-id')).toBe('client-req-42');
      const seen = stub.requests.at(-1)!.headers;
      expect(seen['x-internal-principal']).not.toBe(forged);
      expect(verifyPrincipal(seen['x-internal-principal'] as string, TEST_SECRET)).toEqual({
        owner_id: 'header-owner', kind: 'acf_key', key_id: key.key_id, roles: ['buyer'], org_id: null, rate_limit: 60, agent_id: null,
      });
      expect(seen.authorization).toBeUndefined();
      expect(seen['x-request-id']).toBe('client-req-42');
      expect(seen.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
      expect(seen['x-forwarded-for']).toBeDefined();

      // An invalid client request id is replaced; a missing traceparent is started.
      const bad = await call(s.url, 'GET', '/api/v1/services', { headers: { 'x-request-id': 'bad id with spaces' } });
      const rid = bad.headers.get('x-request-id')!;
      expect(rid).toMatch(/^[0-9a-f-]{36}$/);
      expect(stub.requests.at(-1)!.headers['x-request-id']).toBe(rid);
      expect(stub.requests.at(-1)!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    });

    it('streams the body through byte for byte, without parsing it', async () => {
      const stub = s.stubs.metering;
      const key = await newBuyerKey(s.url, 'stream-owner');
      const notJson = '{"this is": not json at all';
      const res = await call(s.url, 'POST', '/api/v1/proxy/svc-1/echo', { body: notJson, headers: { authorization: key.bearer, 'content-type': 'application/json' } });
      expect(res.status).toBe(200);
      expect(stub.requests.at(-1)!.body.toString('utf8')).toBe(notJson);

      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      const resBig = await fetch(`${s.url}/api/v1/proxy/svc-1/upload`, { method: 'PUT', headers: { authorization: key.bearer, 'content-type': 'application/octet-stream' }, body: big });
      expect(resBig.status).toBe(200);
      expect(stub.requests.at(-1)!.body.equals(big)).toBe(true);
    });
  });

  describe('authentication', () => {
    it('answers 401 in the route family when credentials are invalid, on any route', async () => {
      const cases: [string, string, (b: any) => void][] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
        ['GET', '/api/v1/services', (b) => expect(b.detail).toMatch(/Invalid or revoked/)],
        ['GET', '/agents', (b) => expect(b.error).toMatch(/Invalid or revoked/)],
        ['POST', '/agent-onboard', (b) => expect(b).toMatchObject({ ok: false, error: { code: 'unauthorized' } })],
        ['POST', '/v1/webhooks/triggers/t1', (b) => expect(b.detail).toBeDefined()],
      ];
      for (const [method, path, check] of cases) {
        const before = s.stubs.marketplace.requests.length + s.stubs.wallets.requests.length + s.stubs.runtime.requests.length;
        const res = await call(s.url, method, path, { headers: { authorization: `Bearer acf_0000000000000000:sec_${'0'.repeat(40)}` } });
        expect(res.status).toBe(401);
        check(res.body);
        expect(s.stubs.marketplace.requests.length + s.stubs.wallets.requests.length + s.stubs.runtime.requests.length).toBe(before);
      }
      const badHeaders: Record<string, string>[] = [{ 'x-api-key': 'ig_live_nope' }, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer' }, { authorization: `Bearer ${'x'.repeat(2000)}` }];
      for (const headers of badHeaders) {
        expect((await call(s.url, 'GET', '/api/v1/services', { headers })).status).toBe(401);
      }
    });

    it('answers 401 on routes that require auth and get none; public routes pass without a principal', async () => {
      const required = await call(s.url, 'GET', '/api/v1/usage/me');
      expect(required.status).toBe(401);
      expect(required.body.detail).toBe('Missing or invalid API key');
      expect((await call(s.url, 'GET', '/balance')).body.error).toBe('Missing or invalid API key');
      expect((await call(s.url, 'GET', '/runs')).body).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      const pub = await call(s.url, 'GET', '/api/v1/discover');
      expect(pub.status).toBe(200);
    });

    it('accepts X-API-Key and the admin dashboard\'s ?key= query credential', async () => {
      const key = await newBuyerKey(s.url, 'x-api-key-owner');
      const viaHeader = await call(s.url, 'GET', '/api/v1/usage/me', { headers: { 'x-api-key': `${key.key_id}:${key.secret}` } });
      expect(viaHeader.status).toBe(200);
      expect(s.stubs.metering.requests.at(-1)!.headers['x-api-key']).toBeUndefined();
      const dash = await call(s.url, 'GET', `/admin/dashboard?key=${encodeURIComponent(BOOTSTRAP_ADMIN)}`);
      expect(dash.status).toBe(200);
      expect(verifyPrincipal(s.stubs.settlements.requests.at(-1)!.headers['x-internal-principal'] as string, TEST_SECRET)?.roles).toEqual(['admin']);
    });

    it('lets identity see the caller: provider keys via the gateway', async () => {
      const key = await newBuyerKey(s.url, 'gw-provider');
      const prov = await call(s.url, 'POST', '/api/v1/keys', { body: { owner_id: 'gw-provider', role: 'provider' }, headers: { authorization: key.bearer } });
      expect(prov.status).toBe(201);
      const list = await call(s.url, 'GET', '/api/v1/provider/keys', { headers: { authorization: `Bearer ${prov.body.key_id}:${prov.body.secret}` } });
      expect(list.status).toBe(200);
      expect(list.body.keys).toHaveLength(2);
    });
  });
});
