import { EventBus, Subscription, backoffMs, sleep } from './bus';
import { AnyEnvelope, parseEnvelope } from './envelope';

interface Group {
  subs: Subscription[];
  queue: AnyEnvelope[];
  running: boolean;
}

/**
 * The standalone bus: one process, same contract as Kafka. Each group has its own queue
 * drained in order; a failing handler is retried with backoff, so delivery is at-least-once
 * and ordered, as with a Kafka partition. Events are serialised and parsed on the way, so a
 * handler never sees a shape it would not see from Kafka.
 */
export class InProcessBus implements EventBus {
  readonly kind = 'in-process' as const;
  private groups = new Map<string, Group>();
  private closed = false;
  private log: (msg: string, err?: unknown) => void;

  constructor(opts: { onError?: (msg: string, err?: unknown) => void } = {}) {
    this.log = opts.onError ?? (() => undefined);
  }

  async publish(events: AnyEnvelope[]): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    for (const g of this.groups.values()) {
      for (const e of events) {
        if (g.subs.some((s) => s.types.includes(e.type))) g.queue.push(parseEnvelope(JSON.parse(JSON.stringify(e))));
      }
      this.drain(g);
    }
  }

  async subscribe(sub: Subscription): Promise<void> {
    const g = this.groups.get(sub.group) ?? { subs: [], queue: [], running: false };
    g.subs.push(sub);
    this.groups.set(sub.group, g);
  }

  private drain(g: Group): void {
    if (g.running) return;
    g.running = true;
    setImmediate(async () => {
      while (g.queue.length && !this.closed) {
        const e = g.queue[0];
        for (let attempt = 0; !this.closed; attempt++) {
          try {
            for (const s of g.subs) if (s.types.includes(e.type)) await s.handler(e);
            break;
          } catch (err) {
            this.log(`handler failed for ${e.type} ${e.id}; retrying`, err);
            await sleep(backoffMs(attempt));
          }
        }
        g.queue.shift();
      }
      g.running = false;
    });
  }

  async healthy(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
