import { Kafka, Producer, Consumer, logLevel, Partitioners, CompressionTypes, Admin } from 'kafkajs';
import { EventBus, Subscription, backoffMs, sleep } from './bus';
import { AnyEnvelope, parseEnvelope, topicFor } from './envelope';
import { producerOf } from './catalogue';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/**
 * Kafka through kafkajs. One topic per producing service (`platform.<source>`), keyed by
 * subject so one entity's events stay in order. The producer is idempotent with acks=all.
 * Topics are created by infra/kafka, never auto-created.
 */
export class KafkaBus implements EventBus {
  readonly kind = 'kafka' as const;
  private kafka: Kafka;
  private producer: Producer;
  private producerReady?: Promise<void>;
  private consumers: Consumer[] = [];
  private admin?: Admin;
  private closed = false;

  constructor(private opts: KafkaBusOptions) {
    const log = opts.log;
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5_000 },
      logLevel: logLevel.WARN,
      logCreator: () => ({ level, log: entry }) => {
        const { message, ...rest } = entry;
        if (!log) return;
        if (level === logLevel.ERROR) log.error({ kafka: rest }, message);
        else log.warn({ kafka: rest }, message);
      },
    });
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  private async ensureProducer(): Promise<void> {
    if (!this.producerReady) {
      this.producerReady = this.producer.connect().catch((err) => {
        this.producerReady = undefined;
        throw err;
      });
    }
    return this.producerReady;
  }

  async publish(events: AnyEnvelope[]): Promise<void> {
    if (!events.length) return;
    await this.ensureProducer();
    const byTopic = new Map<string, AnyEnvelope[]>();
    for (const e of events) {
      const t = topicFor(e.source);
      byTopic.set(t, [...(byTopic.get(t) ?? []), e]);
    }
    await this.producer.sendBatch({
      acks: -1,
      compression: CompressionTypes.None,
      topicMessages: [...byTopic].map(([topic, es]) => ({
        topic,
        messages: es.map((e) => ({
          key: e.subject,
          value: JSON.stringify(e),
          headers: { 'event-type': e.type, 'event-id': e.id, ...(e.traceparent ? { traceparent: e.traceparent } : {}) },
        })),
      })),
    });
  }

  async subscribe(sub: Subscription): Promise<void> {
    const topics = [...new Set(sub.types.map((t) => topicFor(producerOf[t])))];
    const consumer = this.kafka.consumer({
      groupId: sub.group,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 50,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    this.consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        let event: AnyEnvelope;
        try {
          event = parseEnvelope(JSON.parse(message.value.toString('utf8')));
        } catch (err) {
          // A malformed message can never succeed; retrying would block the partition forever.
          this.opts.log?.error({ err: String(err), offset: message.offset }, 'skipping undecodable event');
          return;
        }
        if (!sub.types.includes(event.type)) return;
        for (let attempt = 0; ; attempt++) {
          try {
            await sub.handler(event);
            return;
          } catch (err) {
            if (this.closed) throw err;
            this.opts.log?.warn({ err: String(err), event_id: event.id, type: event.type, attempt }, 'event handler failed; retrying');
            await sleep(backoffMs(attempt));
          }
        }
      },
    });
  }

  async healthy(): Promise<boolean> {
    try {
      if (!this.admin) {
        this.admin = this.kafka.admin({ retry: { retries: 0 } });
        await this.admin.connect();
      }
      await this.admin.describeCluster();
      return true;
    } catch {
      const a = this.admin;
      this.admin = undefined;
      await a?.disconnect().catch(() => undefined);
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.consumers.map((c) => c.disconnect().catch(() => undefined)));
    await this.producer.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }
}
