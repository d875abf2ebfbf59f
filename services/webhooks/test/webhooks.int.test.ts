import { startWebhooks, Harness, as, call } from './support';

jest.setTimeout(30_000);

describe('webhook subscriptions (spec 002)', () => {
  let h: Harness;
  let base: string;
  beforeAll(async () => {
    h = await startWebhooks();
    base = h.svc.url;
  });
  afterAll(() => h.stop());

  const create = (owner: string, body: unknown) => call(base, 'POST', '/api/v1/webhooks', as(owner), body);
  // A public address literal: no DNS lookup, so the suite does not depend on a resolver.
  const valid = { url: 'https://93.184.215.14/webhook', events: ['service.called', 'payment.completed'], secret: 'whsec_my_webhook_secret' };

  it('creates a subscription in the spec shape, events sorted, secret never returned nor stored in clear', async () => {
    // The spec's own example; a name that does not resolve here is accepted and checked again at delivery.
    const r = await create('my-agent', { ...valid, url: 'https://my-agent.example.com/webhook' });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body).sort()).toEqual(['active', 'created_at', 'events', 'id', 'owner_id', 'url']);
    expect(r.body).toMatchObject({ owner_id: 'my-agent', url: 'https://my-agent.example.com/webhook', events: ['payment.completed', 'service.called'], active: true });
    expect(r.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
    const row = await h.svc.db.webhook.findUniqueOrThrow({ where: { id: r.body.id } });
    expect(row.secretCiphertext).not.toContain('whsec');
    expect(JSON.stringify(r.body)).not.toContain('whsec');
  });

  it('requires authentication', async () => {
    for (const [method, path] of [['POST', '/api/v1/webhooks'], ['GET', '/api/v1/webhooks'], ['DELETE', '/api/v1/webhooks/00000000-0000-0000-0000-000000000000']]) {
      const r = await call(base, method, path, {}, method === 'POST' ? valid : undefined);
      expect(r.status).toBe(401);
      expect(typeof r.body.detail).toBe('string');
    }
  });

  it.each([
    ['a plain-http URL to a host not allow-listed', { ...valid, url: 'http://93.184.215.14/webhook' }, /HTTPS/],
    ['a URL that is not a URL', { ...valid, url: 'not a url' }, /url/],
    ['a private address', { ...valid, url: 'https://10.1.2.3/hook' }, /private/],
    ['a loopback name', { ...valid, url: 'https://localhost:9/hook' }, /private/],
    ['URL credentials', { ...valid, url: 'https://user:pw@93.184.215.14/hook' }, /credentials/],
    ['a missing url', { events: valid.events, secret: valid.secret }, /url/],
    ['an unknown event', { ...valid, events: ['service.called', 'key.created'] }, /events\.1: must be one of/],
    ['no events', { ...valid, events: [] }, /events/],
    ['events that are not a list', { ...valid, events: 'service.called' }, /events/],
    ['a short secret', { ...valid, secret: 'short' }, /secret: must be 8 to 256/],
    ['a long secret', { ...valid, secret: 'x'.repeat(257) }, /secret: must be 8 to 256/],
    ['a missing secret', { url: valid.url, events: valid.events }, /secret/],
  ])('refuses %s with 400 and creates nothing', async (_what, body, message) => {
    const before = await h.svc.db.webhook.count();
    const r = await create('validator', body);
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(message);
    expect(await h.svc.db.webhook.count()).toBe(before);
  });

  it('accepts plain http for an allow-listed host (local receivers)', async () => {
    const r = await create('local-dev', { ...valid, url: 'http://127.0.0.1:9/hook', events: ['service.called', 'service.called'] });
    expect(r.status).toBe(201);
    expect(r.body.events).toEqual(['service.called']);
  });

  it('allows 20 subscriptions per owner, then refuses the 21st', async () => {
    const owner = 'busy-owner';
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => create(owner, { ...valid, url: `https://93.184.215.14/hook/${i}` })));
    expect(results.every((r) => r.status === 201)).toBe(true);
    const extra = await create(owner, valid);
    expect(extra.status).toBe(400);
    expect(extra.body.detail).toMatch(/Maximum 20 webhooks per owner/);
    expect(await h.svc.db.webhook.count({ where: { ownerId: owner } })).toBe(20);
    // Deleting one makes room again.
    const del = await call(base, 'DELETE', `/api/v1/webhooks/${results[0].body.id}`, as(owner));
    expect(del.status).toBe(200);
    expect((await create(owner, valid)).status).toBe(201);
  });

  it('refuses concurrent creations past the limit', async () => {
    const owner = 'racing-owner';
    const results = await Promise.all(Array.from({ length: 25 }, () => create(owner, valid)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(20);
    expect(results.filter((r) => r.status === 400)).toHaveLength(5);
  });

  it('lists only the caller’s own subscriptions', async () => {
    const a = await create('lister-a', { ...valid, events: ['settlement.completed', 'reputation.updated'] });
    await create('lister-a', valid);
    await create('lister-b', valid);
    const r = await call(base, 'GET', '/api/v1/webhooks', as('lister-a'));
    expect(r.status).toBe(200);
    expect(r.body.count).toBe(2);
    expect(r.body.webhooks).toHaveLength(2);
    expect(r.body.webhooks.every((w: { owner_id: string }) => w.owner_id === 'lister-a')).toBe(true);
    expect(r.body.webhooks[0]).toEqual(a.body);
    expect(r.body.webhooks[0].events).toEqual(['reputation.updated', 'settlement.completed']);
    const none = await call(base, 'GET', '/api/v1/webhooks', as('nobody'));
    expect(none.body).toEqual({ webhooks: [], count: 0 });
    const page = await call(base, 'GET', '/api/v1/webhooks?limit=1&offset=1', as('lister-a'));
    expect(page.body.count).toBe(1);
    expect((await call(base, 'GET', '/api/v1/webhooks?limit=0', as('lister-a'))).status).toBe(400);
  });

  it('deletes for the owner only', async () => {
    const w = await create('deleter', valid);
    const other = await call(base, 'DELETE', `/api/v1/webhooks/${w.body.id}`, as('intruder'));
    expect(other.status).toBe(403);
    expect(other.body.detail).toBe('Not your webhook');
    expect((await call(base, 'GET', '/api/v1/webhooks', as('deleter'))).body.count).toBe(1);

    const missing = await call(base, 'DELETE', '/api/v1/webhooks/6f1c2c1e-1111-4222-8333-944444444444', as('deleter'));
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('Webhook not found');
    expect((await call(base, 'DELETE', '/api/v1/webhooks/not-a-uuid', as('deleter'))).status).toBe(404);

    const ok = await call(base, 'DELETE', `/api/v1/webhooks/${w.body.id}`, as('deleter'));
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ status: 'deleted', webhook_id: w.body.id });
    expect((await call(base, 'GET', '/api/v1/webhooks', as('deleter'))).body.count).toBe(0);
    expect((await call(base, 'DELETE', `/api/v1/webhooks/${w.body.id}`, as('deleter'))).status).toBe(404);
  });

  it('answers health, readiness and metrics', async () => {
    expect((await call(base, 'GET', '/health')).body.status).toBe('ok');
    expect((await call(base, 'GET', '/ready')).status).toBe(200);
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    expect(metrics).toContain('http_request_duration_seconds');
  });
});
