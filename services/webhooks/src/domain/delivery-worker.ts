import type { SqlClient } from '@platform/events';
import type { Logger } from '@platform/telemetry';
import type { DeliveriesRepository, ClaimedDelivery, AttemptLog } from '../db/deliveries.repository';
import type { WebhooksRepository } from '../db/webhooks.repository';
import type { SecretBox } from './secret-box';
import { retryDelayMs, signBody } from './events';

export interface SendResult {
  ok: boolean;
  statusCode?: number;
  error?: string;
  /** The target can never be reached as configured (refused URL); retrying would not help. */
  permanent?: boolean;
  durationMs: number;
}

/** Posts one signed body; never throws (every outcome is a result to log). */
export interface WebhookSender {
  send(url: string, body: string, headers: Record<string, string>): Promise<SendResult>;
}

export interface DeliveredEvent {
  delivery_id: string;
  webhook_id: string;
  owner_id: string;
  event: string;
  status_code: number;
  attempts: number;
}

export interface DeliveryWorkerOptions {
  deliveries: DeliveriesRepository;
  webhooks: WebhooksRepository;
  sender: WebhookSender;
  box: SecretBox;
  /** Stages `webhook.delivered` in the transaction that marks the delivery done. */
  stageDelivered: (tx: SqlClient, e: DeliveredEvent) => Promise<unknown>;
  logger: Logger;
  pollMs: number;
  concurrency: number;
  timeoutMs: number;
  retryBaseMs: number;
  /** Retries after the first attempt (spec 002: 3). */
  maxRetries: number;
  clock?: () => Date;
}

/**
 * Sends pending deliveries: polls for due rows, posts them concurrently, and records each
 * attempt. A failure is retried after base, 2×base, 4×base… until `maxRetries` retries are
 * spent, then the delivery is `failed`.
 */
export function createDeliveryWorker(o: DeliveryWorkerOptions) {
  const clock = o.clock ?? (() => new Date());
  let timer: NodeJS.Timeout | undefined;
  let stopped = true;
  let inflight: Promise<number> | undefined;

  async function deliver(d: ClaimedDelivery): Promise<void> {
    const [w] = await o.webhooks.findMany([d.webhookId]);
    if (!w || w.deletedAt || !w.active) {
      await o.deliveries.finish(d, 'cancelled', undefined, 'webhook deleted before delivery', clock());
      return;
    }
    let secret: string;
    try {
      secret = o.box.open(w.secretCiphertext, w.id);
    } catch {
      o.logger.error({ webhook_id: w.id }, 'cannot decrypt webhook secret; is WEBHOOK_SECRET_KEY the one it was stored with?');
      await o.deliveries.finish(d, 'failed', undefined, 'secret cannot be decrypted', clock());
      return;
    }
    const attemptedAt = clock();
    const r = await o.sender.send(w.url, d.body, {
      'Content-Type': 'application/json',
      'X-ACF-Signature': signBody(d.body, secret),
      'X-ACF-Event': d.event,
      // Not in spec 002; lets a receiver drop a redelivery (delivery is at-least-once).
      'X-ACF-Delivery': d.id,
    });
    const log: AttemptLog = { statusCode: r.statusCode, error: r.error ?? (r.ok ? undefined : `receiver answered ${r.statusCode}`), durationMs: r.durationMs, attemptedAt };
    if (r.ok) {
      await o.deliveries.markDelivered(d, log, (tx) =>
        o.stageDelivered(tx, { delivery_id: d.id, webhook_id: d.webhookId, owner_id: d.ownerId, event: d.event, status_code: r.statusCode ?? 200, attempts: d.attempts }),
      );
      return;
    }
    const retriesUsed = d.attempts - 1;
    if (r.permanent || retriesUsed >= o.maxRetries) {
      await o.deliveries.finish(d, 'failed', log, log.error!, clock());
      o.logger.warn({ delivery_id: d.id, webhook_id: d.webhookId, attempts: d.attempts, error: log.error }, 'webhook delivery failed');
      return;
    }
    await o.deliveries.reschedule(d, log, new Date(clock().getTime() + retryDelayMs(retriesUsed + 1, o.retryBaseMs)));
  }

  /** One pass: claims what is due and sends it; answers how many deliveries it handled. */
  async function runOnce(): Promise<number> {
    const now = clock();
    // The lease outlives the send's timeout, so no other worker takes a row still in flight.
    const leaseUntil = new Date(now.getTime() + o.timeoutMs + 30_000);
    const batch = await o.deliveries.claimDue(now, leaseUntil, o.concurrency);
    await Promise.all(
      batch.map((d) =>
        deliver(d).catch((err) => o.logger.error({ err: String(err), delivery_id: d.id }, 'webhook delivery bookkeeping failed; the lease will expire and it will be retried')),
      ),
    );
    return batch.length;
  }

  function schedule(ms: number): void {
    if (stopped) return;
    timer = setTimeout(() => void loop(), ms);
    timer.unref?.();
  }

  async function loop(): Promise<void> {
    let next = o.pollMs;
    try {
      inflight = runOnce();
      if ((await inflight) === o.concurrency) next = 0;
    } catch (err) {
      o.logger.warn({ err: String(err) }, 'webhook delivery poll failed');
    } finally {
      inflight = undefined;
    }
    schedule(next);
  }

  return {
    runOnce,
    start(): void {
      if (!stopped) return;
      stopped = false;
      schedule(0);
    },
    /** Lets the sends in flight finish (each is bounded by the timeout), then stops. */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inflight?.catch(() => 0);
    },
  };
}
export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;
