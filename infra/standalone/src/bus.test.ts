import { AnyEnvelope, createEnvelope } from '@platform/events';
import { StandaloneBus } from './bus';

const event = (usageId: string) =>
  createEnvelope('metering', 'service.called', 'svc-1', {
    usage_id: usageId, service_id: 'svc-1', buyer_id: 'b', provider_id: 'p', amount_micros: '1',
    free_tier: false, payment_method: 'balance', status_code: 200, latency_ms: 1,
  }) as AnyEnvelope;

describe('StandaloneBus', () => {
  it('counts an event in flight per consumer group until its last handler succeeds', async () => {
    const bus = new StandaloneBus();
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await bus.subscribe({ group: 'a', types: ['service.called'], handler: async (e) => { await gate; seen.push(`a:${e.id}`); } });
    await bus.subscribe({ group: 'a', types: ['service.called'], handler: async (e) => { seen.push(`a2:${e.id}`); } });
    await bus.subscribe({ group: 'b', types: ['service.called'], handler: async (e) => { seen.push(`b:${e.id}`); } });
    await bus.subscribe({ group: 'c', types: ['key.revoked'], handler: async () => undefined });

    const e = event('u-1');
    await bus.publish([e]);
    expect(bus.inFlight).toBe(2); // groups a and b; c does not take this type
    expect(await bus.settle(100, 10)).toBe(false);
    release();
    expect(await bus.settle(2_000, 10)).toBe(true);
    expect(bus.inFlight).toBe(0);
    expect(seen.sort()).toEqual([`a2:${e.id}`, `a:${e.id}`, `b:${e.id}`]);
    await bus.close();
  });

  it('keeps a failing event in flight until a retry succeeds, and counts it once', async () => {
    const bus = new StandaloneBus();
    let attempts = 0;
    await bus.subscribe({
      group: 'flaky',
      types: ['service.called'],
      handler: async () => {
        if (++attempts < 2) throw new Error('not yet');
      },
    });
    await bus.publish([event('u-2')]);
    expect(await bus.settle(5_000, 10)).toBe(true);
    expect(attempts).toBe(2);
    expect(bus.inFlight).toBe(0);
    await bus.close();
  });
});
