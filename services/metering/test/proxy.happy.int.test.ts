import { randomBytes } from 'node:crypto';
import { startUpstream, Upstream, eventually } from '@platform/testing';
import type { AnyEnvelope } from '@platform/events';
import { startMetering, Metering, principal, request, calledEvents } from './support/harness';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('metering proxy: billing and forwarding (spec 002 Payment Proxy)', () => {
  let m: Metering;
  let base: string;
  let upstream: Upstream;
  const heard: AnyEnvelope[] = [];

  beforeAll(async () => {
    m = await startMetering();
    base = m.svc.url;
    upstream = await startUpstream();
    await m.bus.subscribe({ group: 'test-listener', types: ['service.called'], handler: async (e) => void heard.push(e) });
  });
  afterAll(async () => {
    await m.stop();
    await upstream.close();
  });

  it('spends the free tier first, then charges the balance, then refuses with 402 and forwards nothing', async () => {
    const svc = await m.publishService({ endpoint: `${upstream.url}/v1`, price_micros: '50000', free_tier_calls: 2, provider_id: 'prov-a' });
    const buyer = principal('buyer-free-then-paid');
    m.wallets.fund(buyer.owner_id, 100_000n);
    const path = `/api/v1/proxy/${svc.service_id}/analyze`;
    const before = upstream.requests.length;

    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await request(base, 'POST', path, { as: buyer, body: '{"text":"hi"}', headers: { 'content-type': 'application/json' } }));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(replies.map((r) => r.headers['x-acf-free-tier'])).toEqual(['true', 'true', 'false', 'false']);
    expect(replies.map((r) => r.headers['x-acf-amount'])).toEqual(['0', '0', '0.05', '0.05']);
    for (const r of replies) {
      expect(r.headers['x-acf-usage-id']).toMatch(UUID);
      expect(r.headers['x-acf-latency-ms']).toMatch(/^\d+$/);
      expect(r.json()).toEqual({ ok: true, echo: '{"text":"hi"}' });
    }
    expect(new Set(replies.map((r) => r.headers['x-acf-usage-id'])).size).toBe(4);
    expect(m.wallets.balance(buyer.owner_id)).toBe(0n);
    expect(upstream.requests.length).toBe(before + 4);
    expect(upstream.requests.at(-1)!.url).toBe('/v1/analyze');

    const refused = await request(base, 'POST', path, { as: buyer, body: '{"text":"hi"}' });
    expect(refused.status).toBe(402);
    expect(refused.json().detail).toMatch(/^Insufficient balance/);
    expect(upstream.requests.length).toBe(before + 4);

    const records = await m.svc.db.usageRecord.findMany({ where: { buyerId: buyer.owner_id }, orderBy: { createdAt: 'asc' } });
    expect(records.map((r) => [r.status, r.freeTier, r.amountMicros, r.paymentMethod])).toEqual([
      ['completed', true, 0n, 'free_tier'],
      ['completed', true, 0n, 'free_tier'],
      ['completed', false, 50_000n, 'balance'],
      ['completed', false, 50_000n, 'balance'],
      ['refused', false, 0n, 'balance'],
    ]);
    const ids = replies.map((r) => r.headers['x-acf-usage-id']);
    expect(records.slice(0, 4).map((r) => r.id)).toEqual(ids);
    expect(records.slice(0, 4).map((r) => r.latencyMs)).toEqual(replies.map((r) => Number(r.headers['x-acf-latency-ms'])));

    const events = (await calledEvents(m.svc)).filter((e) => e.buyer_id === buyer.owner_id);
    expect(events).toEqual(
      replies.map((r, i) => ({
        usage_id: r.headers['x-acf-usage-id'],
        service_id: svc.service_id,
        buyer_id: buyer.owner_id,
        provider_id: 'prov-a',
        amount_micros: i < 2 ? '0' : '50000',
        free_tier: i < 2,
        payment_method: i < 2 ? 'free_tier' : 'balance',
        status_code: 200,
        latency_ms: Number(r.headers['x-acf-latency-ms']),
        category: 'ai',
      })),
    );
    await eventually(() => ids.every((id) => heard.some((e) => e.type === 'service.called' && e.data.usage_id === id)));
  });

  it('forwards all five methods with path and query, and passes the provider status through', async () => {
    const up = await startUpstream((req, body, res) => {
      res.statusCode = req.method === 'POST' ? 201 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, body }));
    });
    try {
      const svc = await m.publishService({ endpoint: `${up.url}/base/`, price_micros: '10000' });
      const buyer = principal('buyer-methods', 'provider');
      m.wallets.fund(buyer.owner_id, 1_000_000n);
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        const body = ['POST', 'PUT', 'PATCH'].includes(method) ? `{"m":"${method}"}` : undefined;
        const r = await request(base, method, `/api/v1/proxy/${svc.service_id}/items/42?x=1&y=a%20b`, { as: buyer, body });
        expect(r.status).toBe(method === 'POST' ? 201 : 200);
        expect(r.json()).toEqual({ method, url: '/base/items/42?x=1&y=a%20b', body: body ?? '' });
        expect(r.headers['x-acf-amount']).toBe('0.01');
      }
      expect(m.wallets.balance(buyer.owner_id)).toBe(950_000n);
      const noPath = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}`, { as: buyer });
      expect(noPath.json().url).toBe('/base/');
    } finally {
      await up.close();
    }
  });

  it('streams a 2 MB body to the provider and back intact, unparsed', async () => {
    const svc = await m.publishService({ endpoint: upstream.url, price_micros: '1000' });
    const buyer = principal('buyer-stream');
    m.wallets.fund(buyer.owner_id, 1_000_000n);
    const payload = randomBytes(1024 * 1024).toString('hex');
    expect(payload.length).toBe(2 * 1024 * 1024);

    const sized = await request(base, 'POST', `/api/v1/proxy/${svc.service_id}/upload`, { as: buyer, body: payload, headers: { 'content-type': 'application/json' } });
    expect(sized.status).toBe(200);
    expect(upstream.requests.at(-1)!.body).toBe(payload);
    expect(sized.json().echo).toBe(payload);

    // Chunked upload: no content-length, so the proxy must stream rather than buffer-and-measure.
    const pieces = Array.from({ length: 32 }, (_, i) => payload.slice(i * 65536, (i + 1) * 65536));
    const chunked = await request(base, 'PUT', `/api/v1/proxy/${svc.service_id}/upload`, { as: buyer, chunks: pieces, headers: { 'content-type': 'text/plain' } });
    expect(chunked.status).toBe(200);
    expect(upstream.requests.at(-1)!.body).toBe(payload);
    expect(upstream.requests.at(-1)!.headers['transfer-encoding']).toBe('chunked');
    expect(chunked.json().echo).toBe(payload);
  });

  it('never forwards credentials or hop-by-hop headers, and keeps the provider from setting billing headers or cookies', async () => {
    const up = await startUpstream((_req, _body, res) => {
      res.setHeader('x-provider', 'yes');
      res.setHeader('set-cookie', 'session=provider; Path=/');
      res.setHeader('x-acf-amount', '999');
      res.setHeader('x-acf-free-tier', 'true');
      res.setHeader('x-hop-resp', 'secret');
      res.setHeader('connection', 'x-hop-resp');
      res.setHeader('content-type', 'text/plain');
      res.end('fine');
    });
    try {
      const svc = await m.publishService({ endpoint: up.url, price_micros: '20000' });
      const buyer = principal('buyer-headers');
      m.wallets.fund(buyer.owner_id, 1_000_000n);
      const r = await request(base, 'POST', `/api/v1/proxy/${svc.service_id}/h`, {
        as: buyer,
        body: 'x',
        headers: {
          authorization: 'Bearer acf_key:sec_secret',
          'x-api-key': 'ig_live_secret',
          cookie: 'session=buyer',
          connection: 'keep-alive, x-hop-custom',
          'x-hop-custom': 'drop me',
          'keep-alive': 'timeout=5',
          'proxy-authorization': 'Basic Zm9vOmJhcg==',
          'proxy-foo': 'bar',
          te: 'trailers',
          upgrade: 'h2c',
          'x-forwarded-for': '203.0.113.9',
          'x-internal-service': 'gateway',
          'x-client-request-id': 'client-7',
          'x-custom-ok': 'kept',
          'content-type': 'text/plain',
        },
      });
      expect(r.status).toBe(200);
      expect(r.text).toBe('fine');
      const got = up.requests.at(-1)!.headers;
      for (const h of ['authorization', 'x-api-key', 'cookie', 'x-internal-principal', 'x-internal-service', 'x-client-request-id', 'x-hop-custom', 'keep-alive', 'proxy-authorization', 'proxy-foo', 'te', 'upgrade', 'x-forwarded-for']) {
        expect([h, got[h]]).toEqual([h, undefined]);
      }
      expect(got.connection ?? '').not.toMatch(/x-hop-custom/);
      expect(got['x-custom-ok']).toBe('kept');
      expect(got['content-type']).toBe('text/plain');
      expect(got.host).toBe(`127.0.0.1:${up.port}`);

      expect(r.headers['x-provider']).toBe('yes');
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(r.headers['x-hop-resp']).toBeUndefined();
      expect(r.headers['x-acf-amount']).toBe('0.02');
      expect(r.headers['x-acf-free-tier']).toBe('false');
      expect(r.headers['x-request-id']).toBeDefined();
    } finally {
      await up.close();
    }
  });

  it("replays a repeated Idempotency-Key or client X-Request-ID (X-Client-Request-ID from the gateway) without charging or calling again", async () => {
    let n = 0;
    const up = await startUpstream((_req, _body, res) => {
      n++;
      res.statusCode = 202;
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-call', String(n));
      res.end(JSON.stringify({ call: n }));
    });
    try {
      const svc = await m.publishService({ endpoint: up.url, price_micros: '30000' });
      const buyer = principal('buyer-idem');
      m.wallets.fund(buyer.owner_id, 100_000n);
      const path = `/api/v1/proxy/${svc.service_id}/do`;
      for (const header of ['idempotency-key', 'x-client-request-id']) {
        const key = `${header}-key-1`;
        const first = await request(base, 'POST', path, { as: buyer, body: 'a', headers: { [header]: key } });
        expect(first.status).toBe(202);
        await eventually(async () => (await m.svc.db.usageRecord.findUnique({ where: { id: String(first.headers['x-acf-usage-id']) } }))?.responseBody);
        const calls = n;
        const balance = m.wallets.balance(buyer.owner_id);
        const events = (await calledEvents(m.svc)).length;

        const again = await request(base, 'POST', path, { as: buyer, body: 'a', headers: { [header]: key } });
        expect(again.status).toBe(202);
        expect(again.text).toBe(first.text);
        expect(again.headers['x-call']).toBe(first.headers['x-call']);
        for (const h of ['x-acf-usage-id', 'x-acf-amount', 'x-acf-free-tier', 'x-acf-latency-ms', 'content-type']) expect(again.headers[h]).toBe(first.headers[h]);
        expect(again.headers['x-acf-replayed']).toBe('true');
        expect(n).toBe(calls);
        expect(m.wallets.balance(buyer.owner_id)).toBe(balance);
        expect((await calledEvents(m.svc)).length).toBe(events);

        const other = await request(base, 'POST', `${path}/elsewhere`, { as: buyer, body: 'a', headers: { [header]: key } });
        expect(other.status).toBe(409);
        expect(other.json().detail).toMatch(/different request/);
      }
      // The gateway's own X-Request-ID (made up when the client sent none) is no key: two charges.
      m.wallets.fund(buyer.owner_id, 60_000n);
      const before = m.wallets.balance(buyer.owner_id);
      const one = await request(base, 'POST', path, { as: buyer, body: 'a', headers: { 'x-request-id': 'gateway-made-1' } });
      const two = await request(base, 'POST', path, { as: buyer, body: 'a', headers: { 'x-request-id': 'gateway-made-1' } });
      expect([one.status, two.status]).toEqual([202, 202]);
      expect(two.headers['x-acf-replayed']).toBeUndefined();
      expect(two.headers['x-acf-usage-id']).not.toBe(one.headers['x-acf-usage-id']);
      expect(m.wallets.balance(buyer.owner_id)).toBe(before - 60_000n);
      // Another buyer's identical key is theirs alone.
      const stranger = principal('buyer-idem-2');
      m.wallets.fund(stranger.owner_id, 100_000n);
      const theirs = await request(base, 'POST', path, { as: stranger, body: 'a', headers: { 'idempotency-key': 'idempotency-key-key-1' } });
      expect(theirs.headers['x-acf-replayed']).toBeUndefined();
      expect(m.wallets.balance(stranger.owner_id)).toBe(70_000n);
    } finally {
      await up.close();
    }
  });

  it('a repeated key on a free-tier service replays without using the tier again; concurrent twins take one free call', async () => {
    const svc = await m.publishService({ endpoint: upstream.url, price_micros: '20000', free_tier_calls: 2 });
    const buyer = principal('buyer-free-idem');
    m.wallets.fund(buyer.owner_id, 100_000n);
    const path = `/api/v1/proxy/${svc.service_id}/f`;
    const used = async () => (await m.svc.db.freeTierUsage.findUnique({ where: { buyerId_serviceId: { buyerId: buyer.owner_id, serviceId: svc.service_id } } }))?.used ?? 0;

    const first = await request(base, 'GET', path, { as: buyer, headers: { 'idempotency-key': 'free-1' } });
    expect([first.status, first.headers['x-acf-free-tier']]).toEqual([200, 'true']);
    await eventually(async () => (await m.svc.db.usageRecord.findUnique({ where: { id: String(first.headers['x-acf-usage-id']) } }))?.responseBody);
    const again = await request(base, 'GET', path, { as: buyer, headers: { 'idempotency-key': 'free-1' } });
    expect([again.headers['x-acf-replayed'], again.headers['x-acf-usage-id']]).toEqual(['true', first.headers['x-acf-usage-id']]);
    expect(await used()).toBe(1);

    // Five twins with one key at once: one record, one free call taken, the others answer as repeats.
    const twins = await Promise.all(Array.from({ length: 5 }, () => request(base, 'GET', path, { as: buyer, headers: { 'idempotency-key': 'free-2' } })));
    const records = await m.svc.db.usageRecord.findMany({ where: { buyerId: buyer.owner_id, idempotencyKey: 'free-2' } });
    expect(records).toHaveLength(1);
    expect(records[0].freeTier).toBe(true);
    expect(new Set(twins.filter((t) => t.status === 200).map((t) => t.headers['x-acf-usage-id']))).toEqual(new Set([records[0].id]));
    for (const t of twins.filter((x) => x.status !== 200)) expect(t.status).toBe(409);
    expect(await used()).toBe(2);

    // The tier is used up: the next key pays, and its repeat does not pay again.
    const paid = await request(base, 'GET', path, { as: buyer, headers: { 'idempotency-key': 'free-3' } });
    expect([paid.status, paid.headers['x-acf-free-tier'], paid.headers['x-acf-amount']]).toEqual([200, 'false', '0.02']);
    await eventually(async () => (await m.svc.db.usageRecord.findUnique({ where: { id: String(paid.headers['x-acf-usage-id']) } }))?.responseBody);
    await request(base, 'GET', path, { as: buyer, headers: { 'idempotency-key': 'free-3' } });
    expect(m.wallets.balance(buyer.owner_id)).toBe(80_000n);
    expect(await used()).toBe(2);
  });

  it('lets a key refused for balance be used again once funded', async () => {
    const svc = await m.publishService({ endpoint: upstream.url, price_micros: '40000' });
    const buyer = principal('buyer-idem-402');
    const path = `/api/v1/proxy/${svc.service_id}/x`;
    const refused = await request(base, 'GET', path, { as: buyer, headers: { 'idempotency-key': 'retry-me' } });
    expect(refused.status).toBe(402);
    m.wallets.fund(buyer.owner_id, 40_000n);
    const ok = await request(base, 'GET', path, { as: buyer, headers: { 'idempotency-key': 'retry-me' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-acf-replayed']).toBeUndefined();
    expect(m.wallets.balance(buyer.owner_id)).toBe(0n);
  });

  it('reports my usage from metering’s own records', async () => {
    const svc = await m.publishService({ endpoint: upstream.url, price_micros: '700000', free_tier_calls: 1 });
    const buyer = principal('buyer-usage');
    m.wallets.fund(buyer.owner_id, 2_100_000n);
    const empty = await request(base, 'GET', '/api/v1/usage/me', { as: buyer });
    expect(empty.json()).toEqual({ buyer_id: 'buyer-usage', total_calls: 0, total_spent_usd: '0.00', avg_latency_ms: 0 });

    const latencies: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/q`, { as: buyer });
      expect(r.status).toBe(200);
      latencies.push(Number(r.headers['x-acf-latency-ms']));
    }
    expect((await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/q`, { as: buyer })).status).toBe(402);

    const r = await request(base, 'GET', '/api/v1/usage/me', { as: buyer });
    expect(r.status).toBe(200);
    const avg = Math.round((latencies.reduce((a, b) => a + b, 0) / latencies.length) * 10) / 10;
    expect(r.json()).toEqual({ buyer_id: 'buyer-usage', total_calls: 4, total_spent_usd: '2.10', avg_latency_ms: avg });

    const anon = await request(base, 'GET', '/api/v1/usage/me');
    expect(anon.status).toBe(401);
    expect(anon.json().detail).toBe('Missing or invalid API key');
  });

  it('stages exactly one service.called per forwarded call, and none for refused ones', async () => {
    const records = await m.svc.db.usageRecord.findMany({ where: { status: { in: ['completed', 'failed'] } } });
    const events = await calledEvents(m.svc);
    expect(events.length).toBe(records.length);
    expect(new Set(events.map((e) => e.usage_id))).toEqual(new Set(records.map((r) => r.id)));
    const refused = await m.svc.db.usageRecord.findMany({ where: { status: 'refused' } });
    expect(refused.length).toBeGreaterThan(0);
    expect(events.some((e) => refused.some((r) => r.id === e.usage_id))).toBe(false);
  });
});
