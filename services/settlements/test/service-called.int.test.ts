import { InProcessBus, createEnvelope, AnyEnvelope, idempotentBatchHandler } from '@platform/events';
import { providerUsageRepository } from '../src/db/provider-usage.repository';
import { serviceCalledConsumer } from '../src/events/consumers/service-called.consumer';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, eventually, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { serviceToken, signPrincipal } from '@platform/auth';
import { settlementsService, readConfig } from '../src';
import type { Db } from '../src/db/client';

const called = (usageId: string, providerId: string, amountMicros: string, freeTier = false) =>
  createEnvelope('metering', 'service.called', 'svc-1', {
    usage_id: usageId, service_id: 'svc-1', buyer_id: 'buyer-1', provider_id: providerId, amount_micros: amountMicros,
    free_tier: freeTier, payment_method: freeTier ? 'free_tier' : 'balance', status_code: 200, latency_ms: 12,
  }) as AnyEnvelope;

describe('settlements keeps a provider usage read model from service.called', () => {
  let svc: RunningService<Db>;
  let drop: () => Promise<void>;
  const bus = new InProcessBus();
  const internal = { 'x-internal-principal': serviceToken('test', TEST_SECRET) };
  const summary = (providerId: string, headers: Record<string, string> = internal) =>
    fetch(`${svc.url}/internal/providers/${encodeURIComponent(providerId)}/summary`, { headers }).then(async (r) => ({ status: r.status, body: (await r.json()) as any })); // eslint-disable-line @typescript-eslint/no-explicit-any

  beforeAll(async () => {
    const db = await freshDatabase('settlements');
    drop = db.drop;
    const config = readConfig({ DATABASE_URL: db.url, INTERNAL_TOKEN_SECRET: TEST_SECRET, PORT: '0', LOG_LEVEL: 'silent' });
    svc = await startService(settlementsService, config, { inProcessBus: bus, logger: createLogger('settlements', 'silent') });
  });
  afterAll(async () => {
    await svc.stop();
    await drop();
  });

  it('records each call once, however often the event is delivered, and sums it exactly', async () => {
    const paid = called('u-1', 'prov-1', '50000');
    const big = called('u-2', 'prov-1', '9007199254740993'); // beyond 2^53: must stay exact
    const free = called('u-3', 'prov-1', '0', true);
    await bus.publish([paid, paid, big]);
    await bus.publish([paid, free, big]);
    await eventually(async () => (await svc.db.processedEvent.count()) === 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(await svc.db.providerUsage.count()).toBe(3);
    const row = await svc.db.providerUsage.findUniqueOrThrow({ where: { usageId: 'u-1' } });
    expect(row).toMatchObject({ providerId: 'prov-1', serviceId: 'svc-1', buyerId: 'buyer-1', amountMicros: 50000n, freeTier: false, statusCode: 200, latencyMs: 12 });
    expect(row.calledAt.toISOString()).toBe(paid.time);

    const s = await summary('prov-1');
    expect(s.status).toBe(200);
    expect(s.body).toEqual({ provider_id: 'prov-1', call_count: 3, total_micros: '9007199254790993', payable_call_count: 2, payable_micros: '9007199254790993' });
  });

  it('applies a Kafka fetch as one insert with the same rows, a usage id seen before or twice in it kept once', async () => {
    const consumer = serviceCalledConsumer(providerUsageRepository(svc.db));
    const many = jest.fn((es: AnyEnvelope[], tx: Parameters<typeof consumer.handle>[1]) => consumer.handleBatch!(es, tx, svc.db));
    const fn = jest.fn(async () => {
      throw new Error('handle must not run for a batch');
    });
    const batch = idempotentBatchHandler(svc.db, 'settlements.batch-test', fn, async () => undefined, { many });
    const a = called('u-b1', 'prov-2', '70000');
    const again = called('u-b1', 'prov-2', '70000'); // the same call in a second event (a republished row)
    const b = called('u-b2', 'prov-2', '0', true);
    await svc.db.$transaction((tx) => consumer.handle(called('u-b0', 'prov-3', '5'), tx, svc.db));
    const seenBefore = called('u-b0', 'prov-2', '1'); // u-b0 is recorded already (prov-3's): left as it is
    await batch([a, again, b, seenBefore]);
    expect(many).toHaveBeenCalledTimes(1);
    expect(fn).not.toHaveBeenCalled();
    const rows = await svc.db.providerUsage.findMany({ where: { usageId: { in: ['u-b0', 'u-b1', 'u-b2'] } }, orderBy: { usageId: 'asc' } });
    expect(rows.map((r) => [r.usageId, r.providerId, r.amountMicros, r.freeTier, r.paymentMethod, r.calledAt.toISOString()])).toEqual([
      ['u-b0', 'prov-3', 5n, false, 'balance', expect.any(String)],
      ['u-b1', 'prov-2', 70000n, false, 'balance', a.time],
      ['u-b2', 'prov-2', 0n, true, 'free_tier', b.time],
    ]);
    expect((await summary('prov-2')).body).toEqual({ provider_id: 'prov-2', call_count: 2, total_micros: '70000', payable_call_count: 1, payable_micros: '70000' });
  });

  it('answers an empty summary for a provider with no calls', async () => {
    expect((await summary('nobody')).body).toEqual({ provider_id: 'nobody', call_count: 0, total_micros: '0', payable_call_count: 0, payable_micros: '0' });
  });

  it('keeps the summary to services', async () => {
    const asUser = { 'x-internal-principal': signPrincipal({ owner_id: 'prov-1', kind: 'acf_key', key_id: 'k', roles: ['provider'], org_id: null, rate_limit: 60 }, TEST_SECRET) };
    const r = await summary('prov-1', asUser);
    expect(r.status).toBe(403);
    expect(typeof r.body.detail).toBe('string');
    expect((await summary('prov-1', {})).status).toBe(403);
  });

  it('answers health, readiness and metrics', async () => {
    const health = (await fetch(`${svc.url}/health`).then((r) => r.json())) as { status: string; service: string };
    expect(health).toMatchObject({ status: 'ok', service: 'settlements' });
    expect((await fetch(`${svc.url}/ready`)).status).toBe(200);
    expect(await fetch(`${svc.url}/metrics`).then((r) => r.text())).toContain('events_consumed_total');
  });
});
