import { randomUUID } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import { catalogue, EventData, EventType, isEventType } from './catalogue';

/** The versioned envelope every event travels in (CloudEvents-like field names). */
export interface EventEnvelope<T extends EventType = EventType> {
  id: string;
  type: T;
  version: number;
  /** Producing service; also picks the topic (`platform.<source>`). */
  source: string;
  time: string;
  /** The entity whose order matters; the partition key. */
  subject: string;
  /** W3C trace context of the request that caused the event. */
  traceparent?: string;
  tracestate?: string;
  data: EventData<T>;
}

export type AnyEnvelope = { [K in EventType]: EventEnvelope<K> }[EventType];

export function topicFor(source: string): string {
  return `platform.${source}`;
}

export function createEnvelope<T extends EventType>(source: string, type: T, subject: string, data: EventData<T>): EventEnvelope<T> {
  const parsed = catalogue[type].schema.parse(data) as EventData<T>;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return {
    id: randomUUID(),
    type,
    version: catalogue[type].version,
    source,
    time: new Date().toISOString(),
    subject,
    traceparent: carrier.traceparent,
    tracestate: carrier.tracestate,
    data: parsed,
  };
}

export class InvalidEventError extends Error {}

/** Parses an envelope from the wire; the payload is checked against the catalogue. */
export function parseEnvelope(raw: unknown): AnyEnvelope {
  if (typeof raw !== 'object' || raw === null) throw new InvalidEventError('event is not an object');
  const e = raw as Record<string, unknown>;
  if (typeof e.type !== 'string' || !isEventType(e.type)) throw new InvalidEventError(`unknown event type ${String(e.type)}`);
  if (typeof e.id !== 'string' || typeof e.source !== 'string' || typeof e.subject !== 'string') {
    throw new InvalidEventError('event envelope lacks id, source or subject');
  }
  const result = catalogue[e.type].schema.safeParse(e.data);
  if (!result.success) throw new InvalidEventError(`event ${e.id} (${e.type}) has an invalid payload: ${result.error.message}`);
  return { ...(e as unknown as AnyEnvelope), data: result.data } as AnyEnvelope;
}
