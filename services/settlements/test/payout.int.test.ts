import { InProcessBus, createEnvelope, AnyEnvelope } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, eventually, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { serviceToken } from '@platform/auth';
import { settlementsService, readConfig } from '../src';
import type { Db } from '../src/db/client';
import { providerUsageRepository } from '../src/db/provider-usage.repository';
import { payoutOf, providerTotals } from '../src/domain/payout';

/** A `service.called` as metering publishes it; an x402 call carries what the agent paid the provider on chain. */
const called = (providerId: string, paymentMethod: string, amountMicros: string, time = new Date()) => {
  const e = createEnvelope('metering', 'service.called', 'svc-pay', {
    usage_id: `u-${paymentMethod}-${Math.random().toString(36).slice(2)}`,
    service_id: 'svc-pay', buyer_id: 'buyer-pay', provider_id: providerId, amount_micros: amountMicros,
    free_tier: paymentMethod === 'free_tier', payment_method: paymentMethod, status_code: 200, latency_ms: 7,
  }) as AnyEnvelope;
  return { ...e, time: time.toISOString() } as AnyEnvelope;
};

describe('payouts and platform fees count only what the platform collected', () => {
  let svc: RunningService<Db>;
  let drop: () => Promise<void>;
  const bus = new InProcessBus();
  const internal = { 'x-internal-principal': serviceToken('test', TEST_SECRET) };
  const summary = (providerId: string) =>
    fetch(`${svc.url}/internal/providers/${encodeURIComponent(providerId)}/summary`, { headers: internal }).then((r) => r.json() as Promise<Record<string, unknown>>);
  const deliver = async (events: AnyEnvelope[]) => {
    const before = await svc.db.processedEvent.count();
    await bus.publish(events);
    await eventually(async () => (await svc.db.processedEvent.count()) === before + new Set(events.map((e) => e.id)).size);
  };

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

  it('pays out a balance-paid call and not an x402 call, which still counts as usage', async () => {
    const balance = called('prov-x', 'balance', '50000');
    const x402 = called('prov-x', 'x402', '30000');
    await deliver([balance, x402, x402]); // a redelivered x402 call is still one call

    const rows = await svc.db.providerUsage.findMany({ where: { providerId: 'prov-x' }, orderBy: { paymentMethod: 'asc' } });
    expect(rows.map((r) => [r.paymentMethod, r.amountMicros])).toEqual([['balance', 50_000n], ['x402', 30_000n]]);

    const totals = providerTotals(await providerUsageRepository(svc.db).totalsByMethod('prov-x'));
    expect(totals).toEqual({ callCount: 2, totalMicros: 80_000n, payableCallCount: 1, payableMicros: 50_000n });
    // 10% fee: taken from the 50000 the platform holds, none from the 30000 the provider already has on chain.
    expect(payoutOf(totals, 1000)).toEqual({ callCount: 1, totalMicros: 50_000n, feeMicros: 5_000n, netMicros: 45_000n });

    expect(await summary('prov-x')).toEqual({ provider_id: 'prov-x', call_count: 2, total_micros: '80000', payable_call_count: 1, payable_micros: '50000' });
  });

  it('pays nothing and takes no fee for a provider paid only through x402', async () => {
    await deliver([called('prov-onchain', 'x402', '120000'), called('prov-onchain', 'x402', '80000')]);
    const totals = providerTotals(await providerUsageRepository(svc.db).totalsByMethod('prov-onchain'));
    expect(totals).toEqual({ callCount: 2, totalMicros: 200_000n, payableCallCount: 0, payableMicros: 0n });
    expect(payoutOf(totals, 1000)).toEqual({ callCount: 0, totalMicros: 0n, feeMicros: 0n, netMicros: 0n });
  });

  it('pays out session debits, counts free-tier and unpaid calls at 0, and keeps to the period', async () => {
    const march = new Date('2026-03-10T12:00:00Z');
    const april = new Date('2026-04-02T12:00:00Z');
    await deliver([
      called('prov-mix', 'session', '20000', march),
      called('prov-mix', 'balance', '10000', march),
      called('prov-mix', 'x402', '40000', march),
      called('prov-mix', 'free_tier', '0', march),
      called('prov-mix', 'none', '0', march),
      called('prov-mix', 'balance', '7000', april),
    ]);
    const repo = providerUsageRepository(svc.db);
    const marchTotals = providerTotals(await repo.totalsByMethod('prov-mix', { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-04-01T00:00:00Z') }));
    expect(marchTotals).toEqual({ callCount: 5, totalMicros: 70_000n, payableCallCount: 2, payableMicros: 30_000n });
    expect(payoutOf(marchTotals, 500)).toEqual({ callCount: 2, totalMicros: 30_000n, feeMicros: 1_500n, netMicros: 28_500n });

    const allTime = providerTotals(await repo.totalsByMethod('prov-mix'));
    expect(allTime).toEqual({ callCount: 6, totalMicros: 77_000n, payableCallCount: 3, payableMicros: 37_000n });
  });
});
