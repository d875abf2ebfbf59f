import { startUpstream, Upstream, eventually } from '@platform/testing';
import { startMetering, Metering, principal, request, calledEvents, closedPort } from './support/harness';

/** Refusals change nothing; provider failures are recorded, reported once and refunded. */
describe('metering proxy: refusals and provider failures', () => {
  let m: Metering;
  let base: string;
  let upstream: Upstream;
  let silent: Upstream;

  beforeAll(async () => {
    // A short provider timeout so the 504 case is quick; healthy local calls answer far sooner.
    m = await startMetering({ UPSTREAM_TIMEOUT_MS: '1000', REFUND_SWEEP_MS: '100' });
    base = m.svc.url;
    upstream = await startUpstream();
    silent = await startUpstream(() => undefined); // receives the call and never answers
  });
  afterAll(async () => {
    await m.stop();
    await upstream.close();
    await silent.close();
  });

  const funded = (id: string, micros = 1_000_000n) => {
    const p = principal(id);
    m.wallets.fund(id, micros);
    return p;
  };

  it('answers 502 Provider unreachable for a closed port, refunds the debit and reports the call once', async () => {
    const svc = await m.publishService({ endpoint: `http://127.0.0.1:${await closedPort()}/api`, price_micros: '50000' });
    const buyer = funded('buyer-502');
    const r = await request(base, 'POST', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer, body: '{}' });
    expect(r.status).toBe(502);
    expect(r.json().detail).toBe('Provider unreachable');
    expect(r.headers['x-acf-amount']).toBe('0');
    const usageId = String(r.headers['x-acf-usage-id']);
    expect(m.wallets.balance(buyer.owner_id)).toBe(1_000_000n);
    expect(m.wallets.debits.get(usageId)).toMatchObject({ amount: 50_000n, refunded: true });
    const rec = await m.svc.db.usageRecord.findUniqueOrThrow({ where: { id: usageId } });
    expect(rec).toMatchObject({ status: 'failed', statusCode: 502, amountMicros: 0n, refund: 'done' });
    const events = (await calledEvents(m.svc)).filter((e) => e.usage_id === usageId);
    expect(events).toEqual([expect.objectContaining({ status_code: 502, amount_micros: '0', free_tier: false, payment_method: 'balance' })]);
  });

  it('answers 504 Provider timeout when the provider never answers, and refunds', async () => {
    const svc = await m.publishService({ endpoint: silent.url, price_micros: '50000' });
    const buyer = funded('buyer-504');
    const before = silent.requests.length;
    const r = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/slow`, { as: buyer });
    expect(r.status).toBe(504);
    expect(r.json().detail).toBe('Provider timeout');
    expect(silent.requests.length).toBe(before + 1);
    expect(m.wallets.balance(buyer.owner_id)).toBe(1_000_000n);
    const usageId = String(r.headers['x-acf-usage-id']);
    expect(await m.svc.db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).toMatchObject({ status: 'failed', statusCode: 504, refund: 'done' });
    expect((await calledEvents(m.svc)).filter((e) => e.usage_id === usageId)).toEqual([expect.objectContaining({ status_code: 504, amount_micros: '0' })]);
  });

  it('gives a free call back to the free tier when the provider fails it', async () => {
    const port = await closedPort();
    const svc = await m.publishService({ endpoint: `http://127.0.0.1:${port}`, price_micros: '50000', free_tier_calls: 1 });
    const buyer = principal('buyer-free-502');
    const r = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer });
    expect(r.status).toBe(502);
    expect(r.headers['x-acf-free-tier']).toBe('true');
    expect(await m.svc.db.freeTierUsage.findUnique({ where: { buyerId_serviceId: { buyerId: buyer.owner_id, serviceId: svc.service_id } } })).toMatchObject({ used: 0 });
  });

  it('refuses with 402 and forwards nothing when the buyer has no balance', async () => {
    const svc = await m.publishService({ endpoint: upstream.url, price_micros: '50000' });
    const buyer = principal('buyer-broke');
    const before = upstream.requests.length;
    const events = (await calledEvents(m.svc)).length;
    const r = await request(base, 'POST', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer, body: '{"a":1}' });
    expect(r.status).toBe(402);
    expect(r.json().detail).toMatch(/^Insufficient balance/);
    expect(upstream.requests.length).toBe(before);
    expect((await calledEvents(m.svc)).length).toBe(events);
    const recs = await m.svc.db.usageRecord.findMany({ where: { buyerId: buyer.owner_id } });
    expect(recs.map((x) => x.status)).toEqual(['refused']);
  });

  it('refunds a debit wallets took but failed to confirm, and answers 503', async () => {
    const svc = await m.publishService({ endpoint: upstream.url, price_micros: '50000' });
    const buyer = funded('buyer-wallets-crash');
    const before = upstream.requests.length;
    m.wallets.failNextDebit = 'debit-then-500';
    const r = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer });
    expect(r.status).toBe(503);
    expect(r.json().detail).toMatch(/not charged/);
    expect(upstream.requests.length).toBe(before);
    expect(m.wallets.balance(buyer.owner_id)).toBe(1_000_000n);
    const [rec] = await m.svc.db.usageRecord.findMany({ where: { buyerId: buyer.owner_id } });
    expect(rec).toMatchObject({ status: 'abandoned', refund: 'done' });
  });

  it('sweeps calls left pending by a crash: refunds them and frees their key', async () => {
    const svc = await m.publishService({ endpoint: upstream.url, price_micros: '50000' });
    const buyer = funded('buyer-crashed');
    // What a metering process that died between the debit and the provider's answer leaves behind.
    const id = '8a1e6f5c-2f8b-4f43-9c39-6d9f6f3c0b11';
    await m.svc.db.usageRecord.create({
      data: {
        id, buyerId: buyer.owner_id, serviceId: svc.service_id, providerId: svc.provider_id, method: 'GET', path: '/x',
        amountMicros: 50_000n, freeTier: false, paymentMethod: 'balance', chargeMethod: 'balance', status: 'pending', idempotencyKey: 'crashed-key',
        createdAt: new Date(Date.now() - 10 * 60_000),
      },
    });
    m.wallets.debits.set(id, { buyerId: buyer.owner_id, amount: 50_000n, refunded: false });
    m.wallets.fund(buyer.owner_id, -50_000n);
    await eventually(async () => (await m.svc.db.usageRecord.findUnique({ where: { id } }))?.refund === 'done');
    expect(await m.svc.db.usageRecord.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'abandoned', idempotencyKey: null });
    expect(m.wallets.balance(buyer.owner_id)).toBe(1_000_000n);
    const retry = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer, headers: { 'idempotency-key': 'crashed-key' } });
    expect(retry.status).toBe(200);
  });

  it('answers 404 for unknown and removed services, 409 for paused ones, charging nothing', async () => {
    const buyer = funded('buyer-404');
    const unknown = await request(base, 'GET', '/api/v1/proxy/6f1c0a9e-0000-4000-8000-000000000000/x', { as: buyer });
    expect(unknown.status).toBe(404);
    expect(unknown.json().detail).toBe('Service not found');

    const svc = await m.publishService({ endpoint: upstream.url });
    await m.publishService({ ...svc, status: 'paused' }, 'service.updated');
    const paused = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer });
    expect(paused.status).toBe(409);
    expect(paused.json().detail).toMatch(/paused/);

    await m.publishService({ ...svc, status: 'removed' }, 'service.removed');
    const removed = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer });
    expect(removed.status).toBe(404);
    expect(removed.json().detail).toBe('Service not found');
    expect(m.wallets.balance(buyer.owner_id)).toBe(1_000_000n);
    expect(await m.svc.db.usageRecord.count({ where: { buyerId: buyer.owner_id } })).toBe(0);
  });

  it('keeps the newest service facts when an older event arrives late', async () => {
    const now = Date.now();
    const svc = await m.publishService({ endpoint: upstream.url, price_micros: '10000' }, 'service.registered', new Date(now));
    await m.publishService({ ...svc, price_micros: '20000' }, 'service.updated', new Date(now + 1000));
    await m.publishService({ ...svc, price_micros: '30000' }, 'service.updated', new Date(now + 500));
    expect((await m.svc.db.servicePrice.findUniqueOrThrow({ where: { serviceId: svc.service_id } })).priceMicros).toBe(20_000n);
  });

  it('refuses loopback targets that are not allow-listed with 403, before charging', async () => {
    // The allow-list holds 127.0.0.1; "localhost" is another name and is not on it.
    const svc = await m.publishService({ endpoint: `http://localhost:${upstream.port}`, price_micros: '50000' });
    const buyer = funded('buyer-ssrf');
    const before = upstream.requests.length;
    const r = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer });
    expect(r.status).toBe(403);
    expect(r.json().detail).toMatch(/private, loopback or link-local/);
    expect(upstream.requests.length).toBe(before);
    expect(m.wallets.balance(buyer.owner_id)).toBe(1_000_000n);
    expect(await m.svc.db.usageRecord.count({ where: { buyerId: buyer.owner_id } })).toBe(0);
  });

  it('asks for a key (401) and a buyer, provider or admin role (403)', async () => {
    const svc = await m.publishService({ endpoint: upstream.url });
    const anon = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`);
    expect(anon.status).toBe(401);
    expect(anon.json()).toMatchObject({ detail: 'Missing or invalid API key' });
    const user = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`, { as: principal('someone', 'user') });
    expect(user.status).toBe(403);
    expect(user.json().detail).toMatch(/buyer or provider or admin/);
  });

  it('refuses other methods (405), dot segments and bad idempotency keys (400)', async () => {
    const svc = await m.publishService({ endpoint: `${upstream.url}/tenant-a` });
    const buyer = funded('buyer-bad-input');
    const before = upstream.requests.length;
    const options = await request(base, 'OPTIONS', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer });
    expect(options.status).toBe(405);
    expect(options.headers.allow).toBe('GET, POST, PUT, PATCH, DELETE');
    for (const p of ['../tenant-b/x', '%2e%2e/tenant-b', 'a/..%2f..%2ftenant-b', './x']) {
      const r = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/${p}`, { as: buyer });
      expect([p, r.status]).toEqual([p, 400]);
      expect(r.json().detail).toMatch(/"\." or "\.\." segments/);
    }
    const badKey = await request(base, 'GET', `/api/v1/proxy/${svc.service_id}/x`, { as: buyer, headers: { 'idempotency-key': 'x'.repeat(300) } });
    expect(badKey.status).toBe(400);
    expect(upstream.requests.length).toBe(before);
    expect(m.wallets.balance(buyer.owner_id)).toBe(1_000_000n);
  });
});
