import net from 'node:net';
import tls from 'node:tls';
import { Kafka, Producer, Consumer, logLevel, Partitioners, CompressionTypes, Admin, type ISocketFactory } from 'kafkajs';
import { EventBus, Subscription, backoffMs, sleep } from './bus';
import { AnyEnvelope, parseEnvelope, topicFor } from './envelope';
import { producerOf } from './catalogue';

/**
 * kafkajs's own socket factory without Nagle's algorithm: its requests are small writes, and
 * with Nagle a request sent while the previous one is unacknowledged waits for the peer's
 * delayed ACK (up to 40 ms on Linux) — which made every publish take ~20-40 ms.
 */
const noDelaySocket: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect(Object.assign({ host, port }, !net.isIP(host) ? { servername: host } : {}, ssl), onConnect)
    : net.connect({ host, port }, onConnect);
  socket.setKeepAlive(true, 60_000);
  socket.setNoDelay(true);
  return socket;
};

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
  /** Most events handed to one batchHandler call. */
  static readonly CHUNK = 200;

  constructor(private opts: KafkaBusOptions) {
    const log = opts.log;
    this.kafka = new Kafka({
      clientId: opts.clientId,
      socketFactory: noDelaySocket,
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
      // A long poll: by default the broker answers as soon as a record arrives (minBytes 1), so
      // this only bounds idle fetches; a subscription that prefers batches asks for more bytes.
      minBytes: sub.fetch?.minBytes ?? 1,
      maxWaitTimeInMs: sub.fetch?.maxWaitMs ?? 1_000,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    this.consumers.push(consumer);
    // kafkajs restarts a consumer only after retriable errors. One that crashes on a non-retriable
    // one (say "Failed to find group coordinator" while the broker restarts) stays stopped for
    // good, and its group stops reading; this starts it again, with backoff, until the bus closes.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (this.closed || payload.restart) return;
      this.opts.log?.warn({ err: String(payload.error), group: sub.group }, 'consumer crashed and kafkajs will not restart it; starting it again');
      this.consumers = this.consumers.filter((c) => c !== consumer);
      void this.resubscribe(sub, consumer);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
    } catch (err) {
      // Not started: nothing of it may linger (a restart after a crash tries again with a new one).
      this.consumers = this.consumers.filter((c) => c !== consumer);
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    const decode = (value: Buffer | null, offset: string): AnyEnvelope | null => {
      if (!value) return null;
      try {
        return parseEnvelope(JSON.parse(value.toString('utf8')));
      } catch (err) {
        // A malformed message can never succeed; retrying would block the partition forever.
        this.opts.log?.error({ err: String(err), offset }, 'skipping undecodable event');
        return null;
      }
    };
    const retrying = async (what: () => Promise<void>, first: AnyEnvelope, n: number) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await what();
        } catch (err) {
          if (this.closed) throw err;
          this.opts.log?.warn({ err: String(err), event_id: first.id, type: first.type, events: n, attempt }, 'event handler failed; retrying');
          await sleep(backoffMs(attempt));
        }
      }
    };
    const batchHandler = sub.batchHandler;
    if (batchHandler) {
      // What one fetch brought for a partition, in chunks: one handler call (one transaction) per chunk.
      await consumer.run({
        autoCommit: true,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          for (let i = 0; i < batch.messages.length; i += KafkaBus.CHUNK) {
            if (!isRunning() || isStale()) return;
            const chunk = batch.messages.slice(i, i + KafkaBus.CHUNK);
            const events = chunk.map((m) => decode(m.value, m.offset)).filter((e): e is AnyEnvelope => !!e && sub.types.includes(e.type));
            if (events.length) await retrying(() => batchHandler(events), events[0], events.length);
            resolveOffset(chunk[chunk.length - 1].offset);
            await heartbeat();
          }
        },
      });
      return;
    }
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ message }) => {
        const event = decode(message.value, message.offset);
        if (!event || !sub.types.includes(event.type)) return;
        await retrying(() => sub.handler(event), event, 1);
      },
    });
  }

  /** A crashed consumer's subscription, started again on a new consumer (with backoff while the broker is away). */
  private async resubscribe(sub: Subscription, crashed: Consumer): Promise<void> {
    await crashed.disconnect().catch(() => undefined);
    for (let attempt = 0; !this.closed; attempt++) {
      await sleep(backoffMs(attempt));
      if (this.closed) return;
      try {
        await this.subscribe(sub);
        this.opts.log?.warn({ group: sub.group, attempt }, 'consumer started again after a crash');
        return;
      } catch (err) {
        this.opts.log?.warn({ err: String(err), group: sub.group, attempt }, 'cannot start the consumer again yet');
      }
    }
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
