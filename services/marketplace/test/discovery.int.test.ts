import { eventually } from '@platform/testing';
import { startMarketplace, Marketplace, call, principal, called } from './support/harness';

const ids = (body: { services: { id: string }[] }) => body.services.map((s) => s.id);
const DAY = 86_400_000;

// Each suite starts its own service on a fresh database; under a loaded machine that takes seconds.
jest.setTimeout(30_000);

/** Spec 002 "Discovery" against the service with real PostgreSQL full-text search. */
describe('discovery', () => {
  let m: Marketplace;
  let base: string;
  const owner = principal('disc-prov', 'provider');
  const s: Record<string, string> = {};

  const register = async (key: string, body: Record<string, unknown>) => {
    const r = await call(base, 'POST', '/api/v1/services', { as: owner, body: { endpoint: 'https://api.example.com', price_per_call: '0.05', ...body } });
    expect(r.status).toBe(201);
    s[key] = r.body.id;
  };

  beforeAll(async () => {
    m = await startMarketplace();
    base = m.svc.url;
    // Registered in this order: created_at ascending A..G.
    await register('A', { name: 'Sentiment Analysis API', description: 'Analyze text sentiment with confidence scores', category: 'ai', tags: ['nlp', 'sentiment'], price_per_call: '0.05', free_tier_calls: 50 });
    await register('B', { name: 'Text Toolkit', description: 'Tokenizer that also does sentiment scoring', category: 'ai', tags: ['text'], price_per_call: '0.01', payment_method: 'paypal' });
    await register('C', { name: 'Weather Data', description: 'Forecasts for any city', category: 'data', tags: ['weather'], price_per_call: '0.10', free_tier_calls: 10, payment_method: 'nowpayments' });
    await register('D', { name: 'Translator', description: 'Turns content into other languages', category: 'content', tags: ['nlp', 'translation'], price_per_call: '0.02' });
    await register('E', { name: 'Sentiment Paused', description: 'paused', category: 'ai', price_per_call: '0.03' });
    await register('F', { name: 'Forecast Hub', description: 'Hourly outlooks', category: 'data', tags: ['climate'], price_per_call: '0.04' });
    await register('G', { name: 'Pollen Counter', description: 'Pollen levels for a climate-aware day', category: 'data', price_per_call: '0.06' });
    expect((await call(base, 'PATCH', `/api/v1/services/${s.E}`, { as: owner, body: { status: 'paused' } })).status).toBe(200);
  });
  afterAll(() => m.stop());

  describe('GET /api/v1/discover', () => {
    it('answers the spec envelope for the spec example query', async () => {
      const r = await call(base, 'GET', '/api/v1/discover?q=nlp&category=ai&has_free_tier=true&sort_by=price&limit=10');
      expect(r.status).toBe(200);
      expect(Object.keys(r.body).sort()).toEqual(['limit', 'offset', 'services', 'total']);
      expect(r.body).toMatchObject({ total: 1, offset: 0, limit: 10 });
      expect(r.body.services).toEqual([
        {
          id: s.A,
          provider_id: 'disc-prov',
          name: 'Sentiment Analysis API',
          description: 'Analyze text sentiment with confidence scores',
          pricing: { price_per_call: '0.05', currency: 'USDC', payment_method: 'x402', free_tier_calls: 50 },
          status: 'active',
          category: 'ai',
          tags: ['nlp', 'sentiment'],
          created_at: expect.any(String),
          updated_at: expect.any(String),
        },
      ]);
    });

    it('ranks a name match above a description match, and leaves out paused services', async () => {
      const r = await call(base, 'GET', '/api/v1/discover?q=sentiment');
      // A has "sentiment" in its name (and tags), B only in its description; E is paused.
      expect(ids(r.body)).toEqual([s.A, s.B]);
      expect(r.body.total).toBe(2);
    });

    it('ranks a tag match above a description match', async () => {
      const r = await call(base, 'GET', '/api/v1/discover?q=climate');
      expect(ids(r.body)).toEqual([s.F, s.G]);
    });

    it('stems words and understands web-search syntax', async () => {
      expect(ids((await call(base, 'GET', '/api/v1/discover?q=analyzing')).body)).toEqual([s.A]);
      expect(ids((await call(base, 'GET', `/api/v1/discover?q=${encodeURIComponent('sentiment -toolkit')}`)).body)).toEqual([s.A]);
      expect(ids((await call(base, 'GET', `/api/v1/discover?q=${encodeURIComponent('"confidence scores"')}`)).body)).toEqual([s.A]);
      expect(ids((await call(base, 'GET', `/api/v1/discover?q=${encodeURIComponent('weather or pollen')}`)).body).sort()).toEqual([s.C, s.G].sort());
    });

    it('treats quotes and SQL in the query as words, never as SQL', async () => {
      const r = await call(base, 'GET', `/api/v1/discover?q=${encodeURIComponent(`'; DROP TABLE services; --`)}`);
      expect(r.status).toBe(200);
      expect(r.body.total).toBe(0);
      expect(await m.svc.db.service.count()).toBe(7);
    });

    it('filters by category, tags (all listed), price range, payment method and free tier', async () => {
      const q = async (query: string) => ids((await call(base, 'GET', `/api/v1/discover?${query}&sort_by=name`)).body);
      expect(await q('category=ai')).toEqual([s.A, s.B]);
      expect(await q('tags=nlp')).toEqual([s.A, s.D]);
      expect(await q('tags=nlp,sentiment')).toEqual([s.A]);
      expect(await q('min_price=0.02&max_price=0.05')).toEqual([s.F, s.A, s.D]);
      expect(await q('max_price=0.01')).toEqual([s.B]);
      expect(await q('payment_method=paypal')).toEqual([s.B]);
      expect(await q('has_free_tier=true')).toEqual([s.A, s.C]);
      expect(await q('has_free_tier=false')).toEqual([s.F, s.G, s.B, s.D]);
    });

    it('sorts by created_at (newest first, the default), price (cheapest first) and name', async () => {
      expect(ids((await call(base, 'GET', '/api/v1/discover')).body)).toEqual([s.G, s.F, s.D, s.C, s.B, s.A]);
      expect(ids((await call(base, 'GET', '/api/v1/discover?sort_by=price')).body)).toEqual([s.B, s.D, s.F, s.A, s.G, s.C]);
      expect(ids((await call(base, 'GET', '/api/v1/discover?sort_by=name')).body)).toEqual([s.F, s.G, s.A, s.B, s.D, s.C]);
      // An explicit sort_by wins over relevance.
      expect(ids((await call(base, 'GET', '/api/v1/discover?q=sentiment&sort_by=price')).body)).toEqual([s.B, s.A]);
    });

    it('pages with limit and offset while total counts every match', async () => {
      const r = await call(base, 'GET', '/api/v1/discover?sort_by=price&limit=2&offset=1');
      expect(r.body).toMatchObject({ total: 6, offset: 1, limit: 2 });
      expect(ids(r.body)).toEqual([s.D, s.F]);
      const past = await call(base, 'GET', '/api/v1/discover?offset=50');
      expect(past.body).toEqual({ services: [], total: 6, offset: 50, limit: 50 });
    });

    it('finds a service by its new name after a rename', async () => {
      const created = await call(base, 'POST', '/api/v1/services', { as: owner, body: { name: 'Zebra Stripes', endpoint: 'https://z.example.com', price_per_call: '1', category: 'zz' } });
      expect(ids((await call(base, 'GET', '/api/v1/discover?q=zebra')).body)).toEqual([created.body.id]);
      await call(base, 'PATCH', `/api/v1/services/${created.body.id}`, { as: owner, body: { name: 'Okapi Spots' } });
      expect((await call(base, 'GET', '/api/v1/discover?q=zebra')).body.total).toBe(0);
      expect(ids((await call(base, 'GET', '/api/v1/discover?q=okapi')).body)).toEqual([created.body.id]);
      await call(base, 'DELETE', `/api/v1/services/${created.body.id}`, { as: owner });
      expect((await call(base, 'GET', '/api/v1/discover?q=okapi')).body.total).toBe(0);
    });

    it.each([
      ['min_price=abc', /min_price: must be a decimal amount/],
      ['max_price=-1', /max_price: must be a decimal amount/],
      ['min_price=0.5&max_price=0.1', /min_price: must not be above max_price/],
      ['sort_by=rating', /sort_by/],
      ['payment_method=bitcoin', /payment_method/],
      ['has_free_tier=maybe', /has_free_tier: must be true or false/],
      ['limit=0', /limit/],
      ['limit=101', /limit/],
      ['offset=-1', /offset/],
      [`q=${'x'.repeat(201)}`, /q: must be at most 200/],
      [`tags=${Array.from({ length: 21 }, (_, i) => `t${i}`).join(',')}`, /tags: at most 20 tags/],
    ])('refuses %s with 400 and a detail naming the parameter', async (query, message) => {
      const r = await call(base, 'GET', `/api/v1/discover?${query}`);
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(message);
    });
  });

  describe('GET /api/v1/discover/categories', () => {
    it('counts active services per category, most first', async () => {
      const r = await call(base, 'GET', '/api/v1/discover/categories');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        categories: [
          { category: 'data', count: 3 },
          { category: 'ai', count: 2 },
          { category: 'content', count: 1 },
        ],
      });
    });
  });

  describe('trending and recommendations from service.called', () => {
    const provider = 'disc-prov';
    const emitCall = (service: string, buyer: string, latency: number, time?: Date) =>
      m.emit('metering', 'service.called', s[service], called({ service_id: s[service], buyer_id: buyer, provider_id: provider, latency_ms: latency }), { time });

    it('is empty before any call', async () => {
      expect((await call(base, 'GET', '/api/v1/discover/trending')).body).toEqual({ trending: [], count: 0 });
      expect((await call(base, 'GET', '/api/v1/discover/recommendations/agent-x')).body).toEqual({ recommendations: [], count: 0 });
    });

    it('ranks by calls in the window with average latency, once per event id', async () => {
      const first = await emitCall('A', 'agent-x', 100);
      await emitCall('A', 'agent-x', 200);
      await emitCall('A', 'agent-y', 300);
      await emitCall('B', 'agent-y', 50);
      await emitCall('C', 'agent-x', 10);
      await emitCall('C', 'agent-y', 10);
      await emitCall('C', 'agent-y', 11);
      await emitCall('E', 'agent-y', 1); // paused: never trending
      for (let i = 0; i < 5; i++) await emitCall('D', 'agent-z', 5, new Date(Date.now() - 30 * DAY)); // outside the 7-day window
      // A redelivered event (same id) changes nothing; a non-UUID service id is ignored.
      await m.bus.publish([first]);
      await m.emit('metering', 'service.called', 'not-a-uuid', called({ service_id: 'not-a-uuid', buyer_id: 'agent-x', provider_id: provider }));
      await emitCall('G', 'agent-w', 70); // the bus delivers in order: once G shows, everything before it is applied

      const r = await eventually(async () => {
        const t = await call(base, 'GET', '/api/v1/discover/trending');
        return t.body.trending.some((e: { service: { id: string } }) => e.service.id === s.G) ? t : undefined;
      }, 10_000);
      expect(r.status).toBe(200);
      expect(r.body.count).toBe(4);
      // Most calls first; a tie goes to the faster service.
      expect(r.body.trending.map((e: { service: { id: string }; call_count: number; avg_latency_ms: number }) => [e.service.id, e.call_count, e.avg_latency_ms])).toEqual([
        [s.C, 3, 10.3],
        [s.A, 3, 200],
        [s.B, 1, 50],
        [s.G, 1, 70],
      ]);
      expect(r.body.trending[0].service).toMatchObject({ id: s.C, name: 'Weather Data', pricing: { price_per_call: '0.10' } });
      expect(r.body.trending[0].service.endpoint).toBeUndefined();
      // The read model through the client: per buyer and service, and per service and UTC day.
      const used = await m.svc.db.buyerServiceUsage.findMany({ where: { buyerId: 'agent-x' }, orderBy: { callCount: 'desc' } });
      expect(used.map((u) => [u.serviceId, u.callCount])).toEqual([
        [s.A, 2],
        [s.C, 1],
      ]);
      const days = await m.svc.db.serviceUsageDaily.findMany({ where: { serviceId: { in: [s.A, s.D] } }, orderBy: { day: 'asc' } });
      expect(days.map((d) => [d.serviceId, d.callCount, d.successCount, Number(d.latencyTotalMs), d.revenueMicros])).toEqual([
        [s.D, 5, 5, 25, 250_000n],
        [s.A, 3, 3, 600, 150_000n],
      ]);
      const top1 = await call(base, 'GET', '/api/v1/discover/trending?limit=1');
      expect(top1.body.count).toBe(1);
      expect(top1.body.trending[0].service.id).toBe(s.C);
    });

    it('recommends active services in the categories the agent uses most, excluding those it uses', async () => {
      // agent-x called A twice (ai) and C once (data): ai first (B), then data (F, G by popularity: G has a call).
      const r = await call(base, 'GET', '/api/v1/discover/recommendations/agent-x');
      expect(r.status).toBe(200);
      expect(r.body.recommendations.map((x: { id: string }) => x.id)).toEqual([s.B, s.G, s.F]);
      expect(r.body.count).toBe(3);
      expect(r.body.recommendations[0]).toMatchObject({ id: s.B, name: 'Text Toolkit', category: 'ai' });
      const one = await call(base, 'GET', '/api/v1/discover/recommendations/agent-x?limit=1');
      expect(one.body).toEqual({ recommendations: [expect.objectContaining({ id: s.B })], count: 1 });
      // agent-z only used D (content), the only content service: nothing left to recommend.
      expect((await call(base, 'GET', '/api/v1/discover/recommendations/agent-z')).body).toEqual({ recommendations: [], count: 0 });
    });

    it('refuses bad limits with 400', async () => {
      expect((await call(base, 'GET', '/api/v1/discover/trending?limit=0')).status).toBe(400);
      expect((await call(base, 'GET', '/api/v1/discover/trending?limit=abc')).body.detail).toMatch(/limit/);
      expect((await call(base, 'GET', '/api/v1/discover/recommendations/agent-x?limit=51')).status).toBe(400);
    });
  });
});
