import { randomUUID } from 'node:crypto';
import { AnyEnvelope, createEnvelope, idempotentBatchHandler, idempotentHandler } from '@platform/events';
import { startMarketplace, Marketplace, called } from './support/harness';
import { usageRepository, CallFacts } from '../src/db/usage.repository';
import { serviceCalledConsumer } from '../src/events/consumers/service-called.consumer';
import type { Db } from '../src/db/client';

// Each suite starts its own service on a fresh database; under a loaded machine that takes seconds.
jest.setTimeout(30_000);

/**
 * A Kafka fetch's service.called events are applied at once (recordCalls, one statement per
 * table): the usage read model must end exactly as if each call had been applied alone.
 * Two marketplaces on two fresh databases: one takes the calls one by one, the other as a batch.
 */
describe('service.called applied as a batch (real PostgreSQL)', () => {
  let one: Marketplace;
  let many: Marketplace;
  const S1 = randomUUID();
  const S2 = randomUUID();
  const at = (iso: string) => new Date(iso);
  const fact = (over: Partial<CallFacts> & Pick<CallFacts, 'serviceId' | 'buyerId' | 'providerId' | 'at'>): CallFacts => ({
    statusCode: 200,
    latencyMs: 100,
    amountMicros: 50_000n,
    ...over,
  });

  /** The usage read model, in a fixed order; Prisma hands back Dates and bigints, compared by value. */
  const contents = async (db: Db) => ({
    daily: await db.serviceUsageDaily.findMany({ orderBy: [{ serviceId: 'asc' }, { day: 'asc' }] }),
    buyers: await db.buyerServiceUsage.findMany({ orderBy: [{ buyerId: 'asc' }, { serviceId: 'asc' }] }),
    milestones: await db.providerMilestone.findMany({ orderBy: { providerId: 'asc' } }),
  });

  beforeAll(async () => {
    [one, many] = await Promise.all([startMarketplace(), startMarketplace()]);
  });
  afterAll(async () => {
    await Promise.all([one?.stop(), many?.stop()]);
  });
  beforeEach(async () => {
    for (const m of [one, many]) await m.svc.db.$executeRawUnsafe('TRUNCATE "service_usage_daily", "buyer_service_usage", "provider_milestones", "processed_events"');
  });

  it('recordCalls leaves the same rows as recordCall and markMilestone call by call, and a batch applied twice counts twice', async () => {
    // In delivery order, which is not time order: the earliest call of each provider and each
    // buyer/service pair arrives after later ones; the day boundary is UTC midnight.
    const calls: CallFacts[] = [
      fact({ serviceId: S1, buyerId: 'buyer-1', providerId: 'prov-a', at: at('2026-03-01T23:59:58.000Z'), latencyMs: 120 }),
      fact({ serviceId: S1, buyerId: 'buyer-2', providerId: 'prov-a', at: at('2026-03-01T23:59:59.999Z'), statusCode: 500, latencyMs: 30, amountMicros: 0n }),
      fact({ serviceId: S1, buyerId: 'buyer-1', providerId: 'prov-a', at: at('2026-03-02T00:00:00.000Z'), statusCode: 201, latencyMs: 80 }),
      fact({ serviceId: S2, buyerId: 'buyer-1', providerId: 'prov-b', at: at('2026-03-02T00:00:05.000Z'), statusCode: 404, latencyMs: 10, amountMicros: 250_000n }),
      fact({ serviceId: S2, buyerId: 'buyer-2', providerId: 'prov-b', at: at('2026-03-01T23:00:00.000Z'), statusCode: 399, latencyMs: 40, amountMicros: 250_000n }),
      fact({ serviceId: S2, buyerId: 'buyer-2', providerId: 'prov-b', at: at('2026-03-02T10:00:00.000Z'), statusCode: 400, latencyMs: 60, amountMicros: 250_000n }),
      fact({ serviceId: S1, buyerId: 'buyer-1', providerId: 'prov-a', at: at('2026-03-01T12:00:00.000Z'), latencyMs: 100 }),
    ];
    const oneRepo = usageRepository(one.svc.db);
    const manyRepo = usageRepository(many.svc.db);
    // An onboarding fact seen before: the batch must keep it.
    for (const [m, repo] of [[one, oneRepo], [many, manyRepo]] as const) {
      await m.svc.db.$transaction((tx) => repo.markMilestone(tx, 'prov-a', 'first_key_at', at('2026-02-27T09:00:00.000Z')));
    }
    const oneByOne = async () => {
      for (const c of calls) {
        await one.svc.db.$transaction(async (tx) => {
          await oneRepo.recordCall(tx, c);
          await oneRepo.markMilestone(tx, c.providerId, 'first_call_at', c.at);
        });
      }
    };
    const asBatch = () => many.svc.db.$transaction((tx) => manyRepo.recordCalls(tx, calls));

    await oneByOne();
    await asBatch();
    const after = await contents(many.svc.db);
    expect(after).toEqual(await contents(one.svc.db));
    expect(after.daily.map((d) => [d.serviceId, d.day.toISOString().slice(0, 10), d.providerId, d.callCount, d.successCount, Number(d.latencyTotalMs), d.revenueMicros])).toEqual(
      [
        [S1, '2026-03-01', 'prov-a', 3, 2, 250, 100_000n],
        [S1, '2026-03-02', 'prov-a', 1, 1, 80, 50_000n],
        [S2, '2026-03-01', 'prov-b', 1, 1, 40, 250_000n],
        [S2, '2026-03-02', 'prov-b', 2, 0, 70, 500_000n],
      ].sort((x, y) => `${x[0]}${x[1]}`.localeCompare(`${y[0]}${y[1]}`)),
    );
    const pair = (buyer: string, service: string) => after.buyers.find((b) => b.buyerId === buyer && b.serviceId === service);
    expect(after.buyers).toHaveLength(4);
    expect(pair('buyer-1', S1)).toMatchObject({ callCount: 3, firstCalledAt: at('2026-03-01T12:00:00.000Z'), lastCalledAt: at('2026-03-02T00:00:00.000Z') });
    expect(pair('buyer-2', S1)).toMatchObject({ callCount: 1, firstCalledAt: at('2026-03-01T23:59:59.999Z'), lastCalledAt: at('2026-03-01T23:59:59.999Z') });
    expect(pair('buyer-1', S2)).toMatchObject({ callCount: 1, firstCalledAt: at('2026-03-02T00:00:05.000Z'), lastCalledAt: at('2026-03-02T00:00:05.000Z') });
    expect(pair('buyer-2', S2)).toMatchObject({ callCount: 2, firstCalledAt: at('2026-03-01T23:00:00.000Z'), lastCalledAt: at('2026-03-02T10:00:00.000Z') });
    expect(after.milestones).toEqual([
      { providerId: 'prov-a', firstKeyAt: at('2026-02-27T09:00:00.000Z'), firstCallAt: at('2026-03-01T12:00:00.000Z'), firstSettlementAt: null },
      { providerId: 'prov-b', firstKeyAt: null, firstCallAt: at('2026-03-01T23:00:00.000Z'), firstSettlementAt: null },
    ]);

    // recordCalls does not deduplicate (the consumer's processed_events does): the same batch
    // again adds to the existing rows exactly as the same calls again one by one do.
    await oneByOne();
    await asBatch();
    const twice = await contents(many.svc.db);
    expect(twice).toEqual(await contents(one.svc.db));
    expect(twice.daily.map((d) => [d.callCount, d.successCount, Number(d.latencyTotalMs), d.revenueMicros])).toEqual(
      after.daily.map((d) => [2 * d.callCount, 2 * d.successCount, 2 * Number(d.latencyTotalMs), 2n * d.revenueMicros]),
    );
    expect(twice.buyers).toEqual(after.buyers.map((b) => ({ ...b, callCount: 2 * b.callCount })));
    expect(twice.milestones).toEqual(after.milestones);
  });

  it("the consumer's handleBatch, through the batch handler, equals handle event by event, and a redelivered batch adds nothing", async () => {
    const event = (over: Parameters<typeof called>[0], time: string) => {
      const e = createEnvelope('metering', 'service.called', over.service_id, called(over)) as AnyEnvelope;
      e.time = time;
      return e;
    };
    const e1 = event({ service_id: S1, buyer_id: 'buyer-1', provider_id: 'prov-a', status_code: 200, latency_ms: 90 }, '2026-03-01T23:59:59.000Z');
    // Upper-case ids name the same service: the batch must sum them into the same row.
    const e2 = event({ service_id: S1.toUpperCase(), buyer_id: 'buyer-1', provider_id: 'prov-a', status_code: 502, latency_ms: 15, amount_micros: '0' }, '2026-03-02T00:00:00.001Z');
    const e3 = event({ service_id: 'not-a-marketplace-service', buyer_id: 'buyer-2', provider_id: 'prov-c', status_code: 200, latency_ms: 5 }, '2026-03-01T08:00:00.000Z');
    const e4 = event({ service_id: S2, buyer_id: 'buyer-2', provider_id: 'prov-b', status_code: 200, latency_ms: 70, amount_micros: '250000' }, '2026-03-01T08:00:00.000Z');
    const e5 = event({ service_id: S1, buyer_id: 'buyer-2', provider_id: 'prov-a', status_code: 200, latency_ms: 30 }, '2026-03-01T07:00:00.000Z');
    const batch = [e1, e2, e3, e2, e4, e5]; // e2 twice in one fetch

    const consumerOf = (m: Marketplace) => serviceCalledConsumer(usageRepository(m.svc.db));
    const c1 = consumerOf(one);
    const single = idempotentHandler(one.svc.db, 'test.service-called', (e, tx) => c1.handle(e, tx, one.svc.db));
    for (const e of batch) await single(e);

    const cn = consumerOf(many);
    const handled: string[][] = [];
    const bySingle: string[] = [];
    const fallback = idempotentHandler(many.svc.db, 'test.service-called', (e, tx) => {
      bySingle.push(e.id);
      return cn.handle(e, tx, many.svc.db);
    });
    const applyBatch = idempotentBatchHandler(many.svc.db, 'test.service-called', (e, tx) => cn.handle(e, tx, many.svc.db), fallback, {
      many: (es, tx) => {
        handled.push(es.map((e) => e.id));
        return cn.handleBatch!(es, tx, many.svc.db);
      },
    });
    await applyBatch(batch);
    expect(handled).toEqual([[e1.id, e2.id, e3.id, e4.id, e5.id]]);
    expect(bySingle).toEqual([]); // the batch committed; nothing fell back

    const after = await contents(many.svc.db);
    expect(after).toEqual(await contents(one.svc.db));
    expect(after.daily.map((d) => [d.serviceId, d.day.toISOString().slice(0, 10), d.callCount, d.successCount, Number(d.latencyTotalMs), d.revenueMicros])).toEqual(
      [
        [S1, '2026-03-01', 2, 2, 120, 100_000n],
        [S1, '2026-03-02', 1, 0, 15, 0n],
        [S2, '2026-03-01', 1, 1, 70, 250_000n],
      ].sort((x, y) => `${x[0]}${x[1]}`.localeCompare(`${y[0]}${y[1]}`)),
    );
    expect(after.milestones.map((p) => [p.providerId, p.firstCallAt])).toEqual([
      ['prov-a', at('2026-03-01T07:00:00.000Z')],
      ['prov-b', at('2026-03-01T08:00:00.000Z')],
    ]);

    // Redelivered (a crash before the offset commit): processed_events finds every id.
    await applyBatch(batch);
    expect(handled).toHaveLength(1);
    expect(await contents(many.svc.db)).toEqual(after);
  });
});
