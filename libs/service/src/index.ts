import type { Express } from 'express';
import { createLogger, createMetrics, Logger, ServiceMetrics } from '@platform/telemetry';
import { createBaseApp, finishApp, listen, RunningServer, ReadinessCheck } from '@platform/http';
import { createBus, EventBus, EventType, InProcessBus, Outbox, SqlDatabase, idempotentHandler, idempotentBatchHandler, AnyEnvelope, SqlClient, sleep } from '@platform/events';
import { ensureDatabase, migrate } from '@platform/db';
import type { ServiceBaseConfig } from '@platform/config';
import { context, propagation, trace, Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';

/** Continues the producer's trace (the envelope's traceparent) around a consumer's work. */
async function withEventSpan(service: string, consumer: string, e: AnyEnvelope, fn: () => Promise<void>): Promise<void> {
  const parent = propagation.extract(context.active(), { traceparent: e.traceparent ?? '', tracestate: e.tracestate ?? '' });
  const tracer = trace.getTracer(service);
  return tracer.startActiveSpan(`consume ${e.type}`, { kind: SpanKind.CONSUMER, attributes: { 'messaging.message.id': e.id, 'messaging.consumer.group.name': `${service}.${consumer}` } }, parent, (span) => runInSpan(span, fn));
}

/** Runs fn in the span, marks the span failed if fn throws, and always ends it. */
async function runInSpan(span: Span, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
    throw err;
  } finally {
    span.end();
  }
}

/** One span for a batch applied at once: linked to each event's trace (up to 128), not a child of one of them. */
async function withBatchSpan(service: string, consumer: string, es: AnyEnvelope[], fn: () => Promise<void>): Promise<void> {
  const links = es.slice(0, 128).flatMap((e) => {
    const ctx = trace.getSpanContext(propagation.extract(context.active(), { traceparent: e.traceparent ?? '', tracestate: e.tracestate ?? '' }));
    return ctx ? [{ context: ctx }] : [];
  });
  const tracer = trace.getTracer(service);
  return tracer.startActiveSpan(
    `consume ${es[0]?.type ?? 'events'} batch`,
    { kind: SpanKind.CONSUMER, links, attributes: { 'messaging.batch.message_count': es.length, 'messaging.consumer.group.name': `${service}.${consumer}` } },
    (span) => runInSpan(span, fn),
  );
}

export interface ServiceDb extends SqlDatabase {
  $disconnect(): Promise<void>;
}

export interface ServiceContext<DB extends ServiceDb, C extends ServiceBaseConfig> {
  name: string;
  config: C;
  db: DB;
  bus: EventBus;
  outbox: Outbox;
  logger: Logger;
  metrics: ServiceMetrics;
}

export interface Consumer<DB> {
  /** Unique per consumer; also the dedup key in processed_events. */
  name: string;
  types: EventType[];
  handle(event: AnyEnvelope, tx: SqlClient, db: DB): Promise<void>;
  /**
   * Optional: applies several events not seen before, in order, in one transaction, with the
   * same effect as `handle` on each in turn (a read model's aggregates in one statement per
   * batch instead of per event). Without it, `handle` is called for each.
   */
  handleBatch?(events: AnyEnvelope[], tx: SqlClient, db: DB): Promise<void>;
}

export interface ServiceParts<DB> {
  mount(app: Express): void;
  consumers?: Consumer<DB>[];
  readiness?: ReadinessCheck[];
  /** Paths whose bodies are streamed, not parsed as JSON. */
  rawPaths?: string[];
  onStart?(): Promise<void>;
  onStop?(): Promise<void>;
}

export interface ServiceDefinition<DB extends ServiceDb, C extends ServiceBaseConfig> {
  name: string;
  migrationsDir: string;
  createDb(url: string): DB;
  build(ctx: ServiceContext<DB, C>): Promise<ServiceParts<DB>> | ServiceParts<DB>;
}

export interface StartOptions {
  /** Standalone mode passes its shared in-process bus; the service must not close it. */
  inProcessBus?: InProcessBus;
  logger?: Logger;
  /** Whether to create the database if the server lacks it (fleet and tests: yes). */
  ensureDatabase?: boolean;
}

export interface RunningService<DB> extends RunningServer {
  name: string;
  app: Express;
  db: DB;
  bus: EventBus;
  outbox: Outbox;
}

export async function startService<DB extends ServiceDb, C extends ServiceBaseConfig>(
  def: ServiceDefinition<DB, C>,
  config: C,
  opts: StartOptions = {},
): Promise<RunningService<DB>> {
  const logger = opts.logger ?? createLogger(def.name, config.LOG_LEVEL);
  const metrics = createMetrics(def.name);
  if (opts.ensureDatabase !== false) await ensureDatabase(config.DATABASE_URL);
  const result = await migrate(config.DATABASE_URL, def.migrationsDir);
  if (result.applied.length) logger.info({ applied: result.applied }, 'migrations applied');

  const db = def.createDb(config.DATABASE_URL);
  const bus = createBus({ brokers: config.KAFKA_BROKERS, clientId: def.name, log: logger, inProcess: opts.inProcessBus });
  const ownsBus = bus !== opts.inProcessBus;
  const outbox = new Outbox({
    source: def.name,
    db,
    bus,
    log: logger,
    pollMs: config.OUTBOX_POLL_MS,
    lingerMs: config.OUTBOX_LINGER_MS,
    ...(config.OUTBOX_LISTEN ? { listenUrl: config.DATABASE_URL, listenPollMs: config.OUTBOX_LISTEN_POLL_MS } : {}),
    onPublished: (es) => es.forEach((e) => metrics.eventsPublished.labels(e.type).inc()),
    onPending: (n) => metrics.outboxPending.set(n),
  });
  const ctx: ServiceContext<DB, C> = { name: def.name, config, db, bus, outbox, logger, metrics };
  const parts = await def.build(ctx);

  const app = createBaseApp({
    service: def.name,
    logger,
    metrics,
    internalTokenSecret: config.INTERNAL_TOKEN_SECRET,
    rawPaths: parts.rawPaths,
    readiness: [
      { name: 'database', check: async () => (await db.$queryRawUnsafe<unknown[]>('SELECT 1')).length === 1 },
      { name: 'bus', check: () => bus.healthy() },
      ...(parts.readiness ?? []),
    ],
  });
  parts.mount(app);
  finishApp(app, logger);

  let stopped = false;
  // Consumers join in the background so a bus outage delays consumption, not start-up.
  const subscribing = (async () => {
    for (const c of parts.consumers ?? []) {
      const onOutcome = (type: string, outcome: 'processed' | 'duplicate') => metrics.eventsConsumed.labels(type, outcome).inc();
      const dedup = idempotentHandler(db, `${def.name}.${c.name}`, (e, tx) => c.handle(e, tx, db), { onOutcome });
      const handler = (e: AnyEnvelope) => withEventSpan(def.name, c.name, e, () => dedup(e));
      // What one Kafka fetch brings is applied in one transaction (each event still in its own span).
      const batchHandler = idempotentBatchHandler(db, `${def.name}.${c.name}`, (e, tx) => withEventSpan(def.name, c.name, e, () => c.handle(e, tx, db)), handler, {
        onOutcome,
        ...(c.handleBatch ? { many: (es: AnyEnvelope[], tx: SqlClient) => withBatchSpan(def.name, c.name, es, () => c.handleBatch!(es, tx, db)) } : {}),
      });
      for (let attempt = 0; !stopped; attempt++) {
        try {
          // Read models need no millisecond freshness: a fetch waits up to 200 ms for 64 KB, so under
          // load one transaction applies a few hundred events instead of one each.
          await bus.subscribe({ group: `${def.name}.${c.name}`, types: c.types, handler, batchHandler, fetch: { minBytes: config.KAFKA_FETCH_MIN_BYTES, maxWaitMs: config.KAFKA_FETCH_MAX_WAIT_MS } });
          break;
        } catch (err) {
          logger.warn({ err: String(err), consumer: c.name }, 'cannot subscribe yet; retrying');
          await sleep(Math.min(5_000, 250 * 2 ** attempt));
        }
      }
    }
  })();

  await parts.onStart?.();
  outbox.start();
  const server = await listen(app, {
    port: config.PORT,
    host: config.HOST,
    logger,
    onStop: async () => {
      stopped = true;
      await parts.onStop?.();
      await outbox.stop();
      if (ownsBus) await bus.close();
      await Promise.race([subscribing, sleep(1_000)]);
      await db.$disconnect();
    },
  });
  logger.info({ url: server.url, bus: bus.kind }, `${def.name} listening`);
  return { ...server, name: def.name, app, db, bus, outbox };
}
