import { InProcessBus, createEnvelope, AnyEnvelope, idempotentBatchHandler } from '@platform/events';
import { usageRepository } from '../src/db/usage.repository';
import { serviceCalledConsumer } from '../src/events/consumers/service-called.consumer';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, eventually, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { reputationService, readConfig } from '../src';
import type { Db } from '../src/db/client';

describe('reputation consumes service.called', () => {
  let svc: RunningService<Db>;
  let drop: () => Promise<void>;
  const bus = new InProcessBus();

  beforeAll(async () => {
    const db = await freshDatabase('reputation');
    drop = db.drop;
    const config = readConfig({ DATABASE_URL: db.url, INTERNAL_TOKEN_SECRET: TEST_SECRET, PORT: '0', LOG_LEVEL: 'silent' });
    svc = await startService(reputationService, config, { inProcessBus: bus, logger: createLogger('reputation', 'silent') });
  });
  afterAll(async () => {
    await svc.stop();
    await drop();
  });

  it('records each usage once, however often the event is delivered', async () => {
    const e = createEnvelope('metering', 'service.called', 'svc-1', {
      usage_id: 'u-1', service_id: 'svc-1', buyer_id: 'b', provider_id: 'p', amount_micros: '50000',
      free_tier: false, payment_method: 'balance', status_code: 200, latency_ms: 12,
    }) as AnyEnvelope;
    await bus.publish([e, e]);
    await bus.publish([e]);
    await eventually(async () => (await svc.db.processedEvent.count()) === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(await svc.db.usageObservation.count({ where: { usageId: 'u-1' } })).toBe(1);
    expect(await svc.db.processedEvent.count()).toBe(1);
  });

  it('applies a Kafka fetch as one insert: one observation per usage id, with the event\'s facts', async () => {
    const consumer = serviceCalledConsumer(usageRepository(svc.db));
    const many = jest.fn((es: AnyEnvelope[], tx: Parameters<typeof consumer.handle>[1]) => consumer.handleBatch!(es, tx, svc.db));
    const batch = idempotentBatchHandler(svc.db, 'reputation.batch-test', async () => undefined, async () => undefined, { many });
    const ev = (usageId: string, status: number, latency: number) =>
      createEnvelope('metering', 'service.called', 'svc-2', {
        usage_id: usageId, service_id: 'svc-2', buyer_id: 'b2', provider_id: 'p2', amount_micros: '1000',
        free_tier: false, payment_method: 'balance', status_code: status, latency_ms: latency,
      }) as AnyEnvelope;
    const x = ev('u-r1', 200, 30);
    const y = ev('u-r2', 503, 900);
    await batch([x, ev('u-r1', 200, 30), y]);
    expect(many).toHaveBeenCalledTimes(1);
    const rows = await svc.db.usageObservation.findMany({ where: { serviceId: 'svc-2' }, orderBy: { usageId: 'asc' } });
    expect(rows.map((r) => [r.usageId, r.providerId, r.buyerId, r.statusCode, r.latencyMs, r.calledAt.toISOString()])).toEqual([
      ['u-r1', 'p2', 'b2', 200, 30, x.time],
      ['u-r2', 'p2', 'b2', 503, 900, y.time],
    ]);
  });

  it('answers health and readiness', async () => {
    const health = (await fetch(`${svc.url}/health`).then((r) => r.json())) as { status: string };
    expect(health.status).toBe('ok');
    const ready = await fetch(`${svc.url}/ready`);
    expect(ready.status).toBe(200);
  });
});
