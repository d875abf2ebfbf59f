import { AnyEnvelope } from './envelope';
import { EventType } from './catalogue';

export type EventHandler = (event: AnyEnvelope) => Promise<void>;

export interface Subscription {
  /** Consumer group: each group sees every event at least once; replicas in a group share. */
  group: string;
  types: EventType[];
  handler: EventHandler;
  /**
   * Optional: several events in order, handled together (one transaction for all, say). A bus
   * that fetches in batches (Kafka) uses it; it must leave the same result as `handler` per event.
   */
  batchHandler?: (events: AnyEnvelope[]) => Promise<void>;
  /**
   * How a fetching bus (Kafka) trades latency for batches: the broker answers once `minBytes`
   * have arrived or `maxWaitMs` has passed. Default: at once (1 byte), or after 1 s when idle.
   */
  fetch?: { minBytes?: number; maxWaitMs?: number };
}

/**
 * The event bus. Delivery is at-least-once and ordered per subject; handlers must be
 * idempotent by event id (see `idempotentHandler`).
 */
export interface EventBus {
  readonly kind: 'kafka' | 'in-process';
  /** Resolves once the events are durably accepted by the bus. */
  publish(events: AnyEnvelope[]): Promise<void>;
  subscribe(sub: Subscription): Promise<void>;
  /** Whether the bus is reachable now (for /ready). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

export function backoffMs(attempt: number, base = 100, cap = 5_000): number {
  return Math.min(cap, base * 2 ** Math.min(attempt, 16));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
