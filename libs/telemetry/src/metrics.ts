import client, { Registry } from 'prom-client';

export type { Registry };

export interface ServiceMetrics {
  registry: Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  eventsPublished: client.Counter<'type'>;
  eventsConsumed: client.Counter<'type' | 'outcome'>;
  outboxPending: client.Gauge;
}

/** One registry per service so standalone mode (many services, one process) keeps them apart. */
export function createMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new client.Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    eventsPublished: new client.Counter({
      name: 'events_published_total',
      help: 'Events published from the outbox to the bus',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    eventsConsumed: new client.Counter({
      name: 'events_consumed_total',
      help: 'Events handled by consumers (outcome: processed, duplicate, failed)',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    outboxPending: new client.Gauge({
      name: 'outbox_pending_events',
      help: 'Events written to the outbox and not yet published',
      registers: [registry],
    }),
  };
}
