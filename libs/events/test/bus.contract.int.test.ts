import { randomUUID } from 'node:crypto';
import { AnyEnvelope, createEnvelope, EventBus, InProcessBus, KafkaBus } from '../src';
import { TEST_KAFKA_BROKERS, eventually } from '@platform/testing';

/**
 * One contract, two buses: what a consumer may rely on holds for Kafka and for the
 * in-process bus alike (standalone mode must behave like the fleet).
 */
const called = (subject: string, n: number): AnyEnvelope =>
  createEnvelope('metering', 'service.called', subject, {
    usage_id: `u-${n}-${randomUUID()}`, service_id: subject, buyer_id: 'b', provider_id: 'p', amount_micros: String(n),
    free_tier: false, payment_method: 'balance', status_code: 200, latency_ms: n,
  }) as AnyEnvelope;

const buses: [string, () => EventBus][] = [
  ['in-process', () => new InProcessBus()],
  ['kafka', () => new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `contract-${randomUUID()}` })],
];

describe.each(buses)('%s bus contract', (_name, make) => {
  jest.setTimeout(60_000);
  let bus: EventBus;
  beforeEach(() => {
    bus = make();
  });
  afterEach(async () => {
    await bus.close();
  });

  it('delivers every event to each group, in order per subject, with the payload parsed', async () => {
    const subject = `svc-${randomUUID()}`;
    const gotA: AnyEnvelope[] = [];
    const gotB: AnyEnvelope[] = [];
    const group = randomUUID();
    await bus.subscribe({ group: `a-${group}`, types: ['service.called'], handler: async (e) => { if (e.subject === subject) gotA.push(e); } });
    await bus.subscribe({ group: `b-${group}`, types: ['service.called'], handler: async (e) => { if (e.subject === subject) gotB.push(e); } });
    const events = Array.from({ length: 20 }, (_, i) => called(subject, i));
    await bus.publish(events.slice(0, 10));
    await bus.publish(events.slice(10));
    await eventually(() => gotA.length === 20 && gotB.length === 20, 30_000);
    expect(gotA.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(gotB.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(gotA[3].data).toEqual(events[3].data);
    expect(gotA[3].type).toBe('service.called');
  });

  it('hands a batch handler every event, in order per subject, none twice once handled', async () => {
    const subject = `svc-${randomUUID()}`;
    const got: AnyEnvelope[] = [];
    const calls: number[] = [];
    const mine = (es: AnyEnvelope[]) => es.filter((e) => e.subject === subject);
    await bus.subscribe({
      group: `batch-${randomUUID()}`,
      types: ['service.called'],
      handler: async (e) => {
        got.push(...mine([e]));
      },
      batchHandler: async (es) => {
        calls.push(es.length);
        got.push(...mine(es));
      },
    });
    const events = Array.from({ length: 50 }, (_, i) => called(subject, i));
    await bus.publish(events);
    await eventually(() => got.length === 50, 30_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(got.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it('only hands a subscriber the types it asked for', async () => {
    const subject = `svc-${randomUUID()}`;
    const got: string[] = [];
    await bus.subscribe({ group: randomUUID(), types: ['service.called'], handler: async (e) => { if (e.subject === subject) got.push(e.type); } });
    const other = createEnvelope('wallets', 'credits.granted', subject, { owner_id: 'o', credits: 5, reason: 'test' }) as AnyEnvelope;
    await bus.publish([other, called(subject, 1)]);
    await eventually(() => got.length === 1, 30_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual(['service.called']);
  });

  it('redelivers an event whose handler failed (at-least-once)', async () => {
    const subject = `svc-${randomUUID()}`;
    let attempts = 0;
    const done: string[] = [];
    await bus.subscribe({
      group: randomUUID(),
      types: ['service.called'],
      handler: async (e) => {
        if (e.subject !== subject) return;
        attempts++;
        if (attempts < 3) throw new Error('transient');
        done.push(e.id);
      },
    });
    const e = called(subject, 7);
    await bus.publish([e]);
    await eventually(() => done.length === 1, 30_000);
    expect(attempts).toBe(3);
    expect(done).toEqual([e.id]);
  });
});
