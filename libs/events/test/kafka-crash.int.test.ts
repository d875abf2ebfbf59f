import { randomUUID } from 'node:crypto';
import { Consumer, Kafka, KafkaJSNonRetriableError } from 'kafkajs';
import { AnyEnvelope, createEnvelope, KafkaBus } from '../src';
import { TEST_KAFKA_BROKERS, eventually } from '@platform/testing';

/**
 * kafkajs restarts a crashed consumer only after a retriable error. After a non-retriable one
 * ("Failed to find group coordinator" when the broker goes away at the wrong moment, as CI saw
 * in e2e's Kafka outage test) it disconnects the consumer, emits CRASH with `restart: false`, and
 * the group stops reading for good. The bus must start it again.
 *
 * The broker, the consumers and the events are real; only the crash is staged, the way kafkajs
 * does it (disconnect, then CRASH with restart false), because stopping the shared test broker
 * would disturb every other suite.
 */
jest.setTimeout(60_000);

const called = (subject: string): AnyEnvelope =>
  createEnvelope('metering', 'service.called', subject, {
    usage_id: randomUUID(), service_id: subject, buyer_id: 'b', provider_id: 'p', amount_micros: '1',
    free_tier: false, payment_method: 'balance', status_code: 200, latency_ms: 1,
  }) as AnyEnvelope;

describe('Kafka bus after a consumer crash kafkajs will not restart', () => {
  it('starts the subscription again on a new consumer, which goes on receiving', async () => {
    const warnings: string[] = [];
    const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `crash-${randomUUID()}`, log: { warn: (_o, m) => warnings.push(m), error: () => undefined } });
    // Every consumer the bus makes, and the CRASH listener it registers on each.
    const kafka = (bus as unknown as { kafka: Kafka }).kafka;
    const make = kafka.consumer.bind(kafka);
    const made: { consumer: Consumer; onCrash?: (e: unknown) => void }[] = [];
    kafka.consumer = (cfg) => {
      const consumer = make(cfg);
      const entry: (typeof made)[number] = { consumer };
      const on = consumer.on.bind(consumer) as (event: string, l: (e: unknown) => void) => () => void;
      (consumer as unknown as { on: typeof on }).on = (event, listener) => {
        if (event === consumer.events.CRASH) entry.onCrash = listener;
        return on(event, listener);
      };
      made.push(entry);
      return consumer;
    };

    const subject = `svc-${randomUUID()}`;
    const group = `crash-${randomUUID()}`;
    const got: string[] = [];
    try {
      await bus.subscribe({ group, types: ['service.called'], handler: async (e) => void (e.subject === subject && got.push(e.id)) });
      const first = called(subject);
      await bus.publish([first]);
      await eventually(() => got.includes(first.id), 30_000);
      expect(made).toHaveLength(1);
      expect(made[0].onCrash).toBeDefined();

      // What kafkajs does after a non-retriable error: the consumer disconnects, then CRASH, restart false.
      await made[0].consumer.disconnect();
      made[0].onCrash!({ id: 1, type: 'consumer.crash', timestamp: Date.now(), payload: { error: new KafkaJSNonRetriableError('Failed to find group coordinator'), groupId: group, restart: false } });

      const second = called(subject);
      await bus.publish([second]);
      await eventually(() => got.includes(second.id), 45_000);
      expect(made).toHaveLength(2); // a new consumer took the subscription over
      expect(warnings).toContain('consumer crashed and kafkajs will not restart it; starting it again');
      expect(warnings).toContain('consumer started again after a crash');
      expect(got.filter((id) => id === second.id)).toHaveLength(1);
    } finally {
      await bus.close();
    }
  });

  it('leaves a crash kafkajs restarts itself to kafkajs', async () => {
    const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `crash-${randomUUID()}` });
    const kafka = (bus as unknown as { kafka: Kafka }).kafka;
    const make = kafka.consumer.bind(kafka);
    let made = 0;
    let onCrash: ((e: unknown) => void) | undefined;
    kafka.consumer = (cfg) => {
      made++;
      const consumer = make(cfg);
      const on = consumer.on.bind(consumer) as (event: string, l: (e: unknown) => void) => () => void;
      (consumer as unknown as { on: typeof on }).on = (event, listener) => {
        if (event === consumer.events.CRASH) onCrash = listener;
        return on(event, listener);
      };
      return consumer;
    };
    try {
      await bus.subscribe({ group: `crash-${randomUUID()}`, types: ['service.called'], handler: async () => undefined });
      onCrash!({ id: 1, type: 'consumer.crash', timestamp: Date.now(), payload: { error: new Error('retriable'), groupId: 'g', restart: true } });
      await new Promise((r) => setTimeout(r, 500));
      expect(made).toBe(1);
    } finally {
      await bus.close();
    }
  });
});
