import path from 'node:path';
import type { ServiceDefinition } from '@platform/service';
import { normalizeAllowHosts } from '@platform/http';
import { createDb, Db } from './db/client';
import { webhooksRepository } from './db/webhooks.repository';
import { deliveriesRepository } from './db/deliveries.repository';
import { receivedEventsRepository } from './db/received-events.repository';
import { secretBox } from './domain/secret-box';
import { createWebhookService } from './domain/webhooks.service';
import { createFanOut } from './domain/fan-out.service';
import { createDeliveryWorker } from './domain/delivery-worker';
import { webhookSender } from './outbound/webhook-sender';
import { serviceCalledConsumer } from './events/consumers/service-called.consumer';
import { paymentCompletedConsumer } from './events/consumers/payment-completed.consumer';
import { publishers } from './events/publishers';
import { webhooksRouter } from './http/webhooks.router';
import { internalRouter } from './http/internal.router';
import type { Config } from './config';

export const webhooksService: ServiceDefinition<Db, Config> = {
  name: 'webhooks',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const { config } = ctx;
    const allowHosts = normalizeAllowHosts(config.OUTBOUND_ALLOW_HOSTS);
    const box = secretBox(config.WEBHOOK_SECRET_KEY);
    const webhooks = webhooksRepository(ctx.db);
    const deliveries = deliveriesRepository(ctx.db);
    const received = receivedEventsRepository(ctx.db);
    const fanOut = createFanOut({ webhooks, deliveries, received });
    const worker = createDeliveryWorker({
      deliveries,
      webhooks,
      box,
      sender: webhookSender({ allowHosts, timeoutMs: config.WEBHOOK_TIMEOUT_MS }),
      stageDelivered: publishers(ctx.outbox).delivered,
      logger: ctx.logger,
      pollMs: config.WEBHOOK_POLL_MS,
      concurrency: config.WEBHOOK_CONCURRENCY,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: config.WEBHOOK_RETRY_BASE_MS,
      maxRetries: config.WEBHOOK_MAX_RETRIES,
    });
    return {
      mount(app) {
        app.use(webhooksRouter({ webhooks: createWebhookService({ repo: webhooks, box, allowHosts }) }));
        app.use(internalRouter({ received }));
      },
      consumers: [serviceCalledConsumer(fanOut), paymentCompletedConsumer(fanOut)],
      onStart: async () => worker.start(),
      onStop: () => worker.stop(),
    };
  },
};
