import { startMarketplace, Marketplace, call, principal, sentimentApi } from './support/harness';

/** Every refusal must leave the registry and the outbox exactly as they were. */
describe('marketplace service registry refusals', () => {
  let m: Marketplace;
  let base: string;
  let existing: { id: string; name: string };
  const owner = principal('owner-1', 'provider');
  const stranger = principal('owner-2', 'provider');
  const buyer = principal('buyer-1', 'buyer');

  const snapshot = async () => ({
    services: await m.svc.db.service.findMany({ orderBy: { id: 'asc' } }),
    events: await m.svc.db.outboxEvent.count(),
  });

  beforeAll(async () => {
    m = await startMarketplace();
    base = m.svc.url;
    const r = await call(base, 'POST', '/api/v1/services', { as: owner, body: sentimentApi({ name: 'Existing' }) });
    existing = r.body;
  });
  afterAll(() => m.stop());

  it('asks for a key (401) and a provider or admin role (403) to register', async () => {
    const before = await snapshot();
    const anon = await call(base, 'POST', '/api/v1/services', { body: sentimentApi() });
    expect(anon.status).toBe(401);
    expect(anon.body.detail).toBe('Missing or invalid API key');
    const asBuyer = await call(base, 'POST', '/api/v1/services', { as: buyer, body: sentimentApi() });
    expect(asBuyer.status).toBe(403);
    expect(asBuyer.body.detail).toMatch(/provider or admin/);
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ['missing name', { name: undefined }, /name/],
    ['blank name', { name: '   ' }, /name: must not be empty/],
    ['name too long', { name: 'n'.repeat(201) }, /name: must be at most 200/],
    ['description too long', { description: 'd'.repeat(2001) }, /description: must be at most 2000/],
    ['missing endpoint', { endpoint: undefined }, /endpoint/],
    ['endpoint with another scheme', { endpoint: 'ftp://files.example.com' }, /endpoint: must start with http:\/\/ or https:\/\//],
    ['endpoint that does not parse', { endpoint: 'http://' }, /endpoint: must be a valid URL/],
    ['endpoint with credentials', { endpoint: 'https://u:p@x.example.com' }, /endpoint: must not carry credentials/],
    ['missing price', { price_per_call: undefined }, /price_per_call/],
    ['negative price', { price_per_call: '-1' }, /price_per_call: must be a decimal amount/],
    ['price with 7 decimals', { price_per_call: '0.0000001' }, /price_per_call: must be a decimal amount/],
    ['price that is text', { price_per_call: 'cheap' }, /price_per_call: must be a decimal amount/],
    ['price too high', { price_per_call: '1000000.01' }, /price_per_call: must be at most 1000000/],
    ['unknown payment method', { payment_method: 'bitcoin' }, /payment_method/],
    ['negative free tier', { free_tier_calls: -1 }, /free_tier_calls: must be 0 or more/],
    ['fractional free tier', { free_tier_calls: 1.5 }, /free_tier_calls: must be a whole number/],
    ['too many tags', { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, /tags: at most 20 tags/],
    ['tag too long', { tags: ['t'.repeat(51)] }, /tags\.0: must be at most 50/],
    ['category too long', { category: 'c'.repeat(51) }, /category: must be at most 50/],
  ])('refuses %s with 400 naming the field', async (_label, over, message) => {
    const before = await snapshot();
    const r = await call(base, 'POST', '/api/v1/services', { as: owner, body: sentimentApi(over) });
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(message);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a body that is not JSON', async () => {
    const r = await call(base, 'POST', '/api/v1/services', { as: owner, raw: '{"name": ' });
    expect(r.status).toBe(400);
    expect(r.body.detail).toBe('Request body is not valid JSON');
  });

  it('answers 404 for a service that does not exist, or an id that is not one', async () => {
    for (const id of ['7c9e6679-7425-40de-944b-e07fc1f90ae7', 'not-a-uuid']) {
      const r = await call(base, 'GET', `/api/v1/services/${id}`);
      expect(r.status).toBe(404);
      expect(r.body.detail).toBe('Service not found');
    }
  });

  it('refuses bad list parameters', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=ten', 'offset=-1', 'status=deleted']) {
      const r = await call(base, 'GET', `/api/v1/services?${q}`);
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(/limit|offset|status/);
    }
  });

  it('lets only the owner or an admin patch, and changes nothing otherwise', async () => {
    const before = await snapshot();
    const path = `/api/v1/services/${existing.id}`;
    const cases: [ReturnType<typeof principal> | undefined, unknown, number, RegExp][] = [
      [undefined, { name: 'x' }, 401, /Missing or invalid API key/],
      [buyer, { name: 'x' }, 403, /provider or admin/],
      [stranger, { name: 'x' }, 403, /^Not your service$/],
      [owner, {}, 400, /at least one field/],
      [owner, { price_per_call: '1e3' }, 400, /price_per_call/],
      [owner, { status: 'deleted' }, 400, /status/],
      [owner, { endpoint: 'mailto:x@example.com' }, 400, /endpoint/],
    ];
    for (const [as, body, status, detail] of cases) {
      const r = await call(base, 'PATCH', path, { as, body });
      expect(r.status).toBe(status);
      expect(r.body.detail).toMatch(detail);
    }
    const missing = await call(base, 'PATCH', '/api/v1/services/7c9e6679-7425-40de-944b-e07fc1f90ae7', { as: owner, body: { name: 'x' } });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('Service not found');
    expect(await snapshot()).toEqual(before);
  });

  it('lets only the owner or an admin delete, and changes nothing otherwise', async () => {
    const before = await snapshot();
    const path = `/api/v1/services/${existing.id}`;
    expect((await call(base, 'DELETE', path)).status).toBe(401);
    expect((await call(base, 'DELETE', path, { as: buyer })).status).toBe(403);
    const r = await call(base, 'DELETE', path, { as: stranger });
    expect(r.status).toBe(403);
    expect(r.body.detail).toBe('Not your service');
    const missing = await call(base, 'DELETE', '/api/v1/services/7c9e6679-7425-40de-944b-e07fc1f90ae7', { as: owner });
    expect(missing.status).toBe(404);
    expect(await snapshot()).toEqual(before);
  });
});
