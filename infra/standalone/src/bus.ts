import { AnyEnvelope, InProcessBus, Subscription, sleep } from '@platform/events';

/**
 * The in-process bus all standalone services share, plus one thing the fleet gets from
 * Kafka's retention: knowing when every delivered event has been handled. Shutdown waits for
 * that before stopping services, because an in-memory queue does not survive the process —
 * an event published but not yet consumed when the process exits would be lost.
 */
export class StandaloneBus extends InProcessBus {
  /** Each group's subscriptions in the order the base class calls them. */
  private readonly subsByGroup = new Map<string, Subscription[]>();
  private pending = 0;

  override async subscribe(sub: Subscription): Promise<void> {
    const subs = this.subsByGroup.get(sub.group) ?? [];
    this.subsByGroup.set(sub.group, subs);
    const wrapped: Subscription = {
      ...sub,
      handler: async (event) => {
        await sub.handler(event);
        // The base class runs a group's matching handlers in order and moves on only when the
        // last one succeeds (a failure retries them all), so that success completes the event.
        const last = [...subs].reverse().find((s) => s.types.includes(event.type));
        if (last === wrapped) this.pending--;
      },
    };
    subs.push(wrapped);
    await super.subscribe(wrapped);
  }

  override async publish(events: AnyEnvelope[]): Promise<void> {
    // Counted before the base class queues them (same rule it uses), so a fast handler
    // cannot finish an event that was never counted.
    let n = 0;
    for (const subs of this.subsByGroup.values()) {
      for (const e of events) if (subs.some((s) => s.types.includes(e.type))) n++;
    }
    this.pending += n;
    try {
      await super.publish(events);
    } catch (err) {
      this.pending -= n;
      throw err;
    }
  }

  /** Events delivered to a consumer group and not yet handled by it. */
  get inFlight(): number {
    return this.pending;
  }

  /**
   * Waits until no event is in flight across a few outbox poll intervals (a consumer's own
   * writes may stage further events), or the deadline passes. Answers whether it settled.
   */
  async settle(deadlineMs = 5_000, quietMs = 200): Promise<boolean> {
    const until = Date.now() + deadlineMs;
    let quietSince: number | undefined;
    while (Date.now() < until) {
      if (this.pending > 0) quietSince = undefined;
      else if (quietSince === undefined) quietSince = Date.now();
      else if (Date.now() - quietSince >= quietMs) return true;
      await sleep(25);
    }
    return false;
  }
}
