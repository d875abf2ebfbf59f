import { eventually } from '@platform/testing';
import type { AnyEnvelope } from '@platform/events';
import { startMarketplace, Marketplace, call, principal, sentimentApi } from './support/harness';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('marketplace service registry (spec 002)', () => {
  let m: Marketplace;
  let base: string;
  const heard: AnyEnvelope[] = [];
  const provider = principal('my-agent', 'provider');
  const admin = principal('root', 'admin');

  beforeAll(async () => {
    m = await startMarketplace();
    base = m.svc.url;
    await m.bus.subscribe({
      group: 'test-listener',
      types: ['service.registered', 'service.updated', 'service.removed'],
      handler: async (e) => {
        heard.push(e);
      },
    });
  });
  afterAll(() => m.stop());

  it('registers the spec example and answers exactly the spec object (the private endpoint is not echoed)', async () => {
    const r = await call(base, 'POST', '/api/v1/services', { as: provider, body: sentimentApi() });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      id: expect.stringMatching(UUID),
      provider_id: 'my-agent',
      name: 'Sentiment Analysis API',
      description: 'Analyze text sentiment with confidence scores',
      pricing: { price_per_call: '0.05', currency: 'USDC', payment_method: 'x402', free_tier_calls: 50 },
      status: 'active',
      category: 'ai',
      tags: ['nlp', 'sentiment'],
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
    });
    const row = await m.svc.db.service.findUniqueOrThrow({ where: { id: r.body.id } });
    expect(row.priceMicros).toBe(50_000n);
    expect(row.endpoint).toBe('https://my-api.example.com/v1');
  });

  it('stages service.registered in the outbox and delivers it to subscribers', async () => {
    const r = await call(base, 'POST', '/api/v1/services', { as: provider, body: sentimentApi({ name: 'Evented', price_per_call: '0.000001' }) });
    expect(r.status).toBe(201);
    const rows = await m.svc.db.outboxEvent.findMany({ where: { subject: r.body.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0].type).toBe('service.registered');
    const expected = {
      service_id: r.body.id,
      provider_id: 'my-agent',
      name: 'Evented',
      endpoint: 'https://my-api.example.com/v1',
      price_micros: '1',
      payment_method: 'x402',
      free_tier_calls: 50,
      status: 'active',
      category: 'ai',
      tags: ['nlp', 'sentiment'],
    };
    expect((rows[0].envelope as { data: unknown }).data).toEqual(expected);
    const e = await eventually(() => heard.find((h) => h.subject === r.body.id));
    expect(e.type).toBe('service.registered');
    expect(e.source).toBe('marketplace');
    expect(e.data).toEqual(expected);
  });

  it('fills the documented defaults', async () => {
    const r = await call(base, 'POST', '/api/v1/services', {
      as: admin,
      body: { name: 'Bare', endpoint: 'http://bare.example.com', price_per_call: '1.5' },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      provider_id: 'root',
      description: '',
      category: '',
      tags: [],
      status: 'active',
      pricing: { price_per_call: '1.50', currency: 'USDC', payment_method: 'x402', free_tier_calls: 0 },
    });
  });

  it('gets one service publicly, in the register shape, without its private endpoint', async () => {
    const created = await call(base, 'POST', '/api/v1/services', { as: provider, body: sentimentApi({ name: 'Public view' }) });
    const r = await call(base, 'GET', `/api/v1/services/${created.body.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(created.body);
    expect(r.body.endpoint).toBeUndefined();
  });

  describe('listing', () => {
    let ids: Record<string, string>;
    const owner = principal('lister', 'provider');
    beforeAll(async () => {
      ids = {};
      for (const [key, body] of Object.entries({
        weather: { name: 'Weather Now', description: 'Forecasts', category: 'data', endpoint: 'https://w.example.com', price_per_call: '0.01' },
        translate: { name: 'Translator', description: 'Translates WEATHER reports too', category: 'content', endpoint: 'https://t.example.com', price_per_call: '0.02' },
        percent: { name: 'Discount 50% off', description: '', category: 'listing-test', endpoint: 'https://p.example.com', price_per_call: '0.03' },
        other: { name: 'Discount 50 dollars', description: '', category: 'listing-test', endpoint: 'https://o.example.com', price_per_call: '0.03' },
        paused: { name: 'Paused weather', description: '', category: 'data', endpoint: 'https://x.example.com', price_per_call: '0.03' },
      })) {
        const r = await call(base, 'POST', '/api/v1/services', { as: owner, body });
        expect(r.status).toBe(201);
        ids[key] = r.body.id;
      }
      expect((await call(base, 'PATCH', `/api/v1/services/${ids.paused}`, { as: owner, body: { status: 'paused' } })).status).toBe(200);
    });

    it('answers the spec envelope, newest first, active only by default, without endpoints', async () => {
      const r = await call(base, 'GET', '/api/v1/services');
      expect(r.status).toBe(200);
      expect(Object.keys(r.body).sort()).toEqual(['count', 'limit', 'offset', 'services']);
      expect(r.body.offset).toBe(0);
      expect(r.body.limit).toBe(50);
      expect(r.body.count).toBe(r.body.services.length);
      expect(r.body.services.every((s: { status: string }) => s.status === 'active')).toBe(true);
      expect(r.body.services.some((s: { id: string }) => s.id === ids.paused)).toBe(false);
      expect(r.body.services.every((s: { endpoint?: string }) => s.endpoint === undefined)).toBe(true);
      const times = r.body.services.map((s: { created_at: string }) => s.created_at);
      expect([...times].sort().reverse()).toEqual(times);
    });

    it('searches name and description case-insensitively, literally', async () => {
      const r = await call(base, 'GET', '/api/v1/services?query=weather');
      expect(r.body.services.map((s: { id: string }) => s.id).sort()).toEqual([ids.weather, ids.translate].sort());
      const pct = await call(base, 'GET', `/api/v1/services?query=${encodeURIComponent('50%')}`);
      expect(pct.body.services.map((s: { id: string }) => s.id)).toEqual([ids.percent]);
    });

    it('filters by category and status', async () => {
      const data = await call(base, 'GET', '/api/v1/services?category=data');
      expect(data.body.services.map((s: { id: string }) => s.id)).toEqual([ids.weather]);
      const paused = await call(base, 'GET', '/api/v1/services?status=paused&category=data');
      expect(paused.body.services.map((s: { id: string }) => s.id)).toEqual([ids.paused]);
    });

    it('pages with limit and offset', async () => {
      const first = await call(base, 'GET', '/api/v1/services?category=listing-test&limit=1');
      const second = await call(base, 'GET', '/api/v1/services?category=listing-test&limit=1&offset=1');
      const third = await call(base, 'GET', '/api/v1/services?category=listing-test&limit=1&offset=2');
      expect(first.body).toMatchObject({ count: 1, offset: 0, limit: 1 });
      expect(second.body).toMatchObject({ count: 1, offset: 1, limit: 1 });
      expect([first.body.services[0].id, second.body.services[0].id].sort()).toEqual([ids.other, ids.percent].sort());
      expect(third.body).toEqual({ services: [], count: 0, offset: 2, limit: 1 });
    });
  });

  it('lets the owner patch, answers the updated object and stages service.updated', async () => {
    const created = await call(base, 'POST', '/api/v1/services', { as: provider, body: sentimentApi({ name: 'Patchable' }) });
    const r = await call(base, 'PATCH', `/api/v1/services/${created.body.id}`, {
      as: provider,
      body: { price_per_call: '0.10', name: 'Patched', tags: ['x'], endpoint: 'https://new.example.com/api', status: 'paused', free_tier_calls: 3 },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: created.body.id,
      name: 'Patched',
      status: 'paused',
      tags: ['x'],
      description: created.body.description,
      pricing: { price_per_call: '0.10', currency: 'USDC', payment_method: 'x402', free_tier_calls: 3 },
      created_at: created.body.created_at,
    });
    const rows = await m.svc.db.outboxEvent.findMany({ where: { subject: created.body.id }, orderBy: { seq: 'asc' } });
    expect(rows.map((x) => x.type)).toEqual(['service.registered', 'service.updated']);
    expect((rows[1].envelope as { data: { price_micros: string; status: string; endpoint: string } }).data).toMatchObject({
      price_micros: '100000',
      status: 'paused',
      endpoint: 'https://new.example.com/api',
    });
    const e = await eventually(() => heard.find((h) => h.subject === created.body.id && h.type === 'service.updated'));
    expect((e.data as { name: string }).name).toBe('Patched');
  });

  it('lets an admin patch any service', async () => {
    const created = await call(base, 'POST', '/api/v1/services', { as: provider, body: sentimentApi({ name: 'Moderated' }) });
    const r = await call(base, 'PATCH', `/api/v1/services/${created.body.id}`, { as: admin, body: { description: 'edited by admin' } });
    expect(r.status).toBe(200);
    expect(r.body.description).toBe('edited by admin');
    expect(r.body.provider_id).toBe('my-agent');
  });

  it('soft-deletes: status removed, still readable, out of the default list, service.removed staged once', async () => {
    const created = await call(base, 'POST', '/api/v1/services', { as: provider, body: sentimentApi({ name: 'Doomed' }) });
    const id = created.body.id;
    const r = await call(base, 'DELETE', `/api/v1/services/${id}`, { as: provider });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'removed', id });
    expect((await call(base, 'GET', `/api/v1/services/${id}`)).body.status).toBe('removed');
    const list = await call(base, 'GET', '/api/v1/services?limit=100');
    expect(list.body.services.some((s: { id: string }) => s.id === id)).toBe(false);
    const removed = await call(base, 'GET', '/api/v1/services?status=removed&limit=100');
    expect(removed.body.services.some((s: { id: string }) => s.id === id)).toBe(true);

    const again = await call(base, 'DELETE', `/api/v1/services/${id}`, { as: provider });
    expect(again.body).toEqual({ status: 'removed', id });
    const rows = await m.svc.db.outboxEvent.findMany({ where: { subject: id }, orderBy: { seq: 'asc' } });
    expect(rows.map((x) => x.type)).toEqual(['service.registered', 'service.removed']);
    expect((rows[1].envelope as { data: { status: string } }).data.status).toBe('removed');
    await eventually(() => heard.find((h) => h.subject === id && h.type === 'service.removed'));
  });
});
