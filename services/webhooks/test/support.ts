import { InProcessBus, createEnvelope, AnyEnvelope } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { signPrincipal, serviceToken } from '@platform/auth';
import { webhooksService, readConfig } from '../src';
import type { Db } from '../src/db/client';

export const WEBHOOK_KEY_HEX = 'a1'.repeat(32);

export interface Harness {
  svc: RunningService<Db>;
  bus: InProcessBus;
  stop(): Promise<void>;
}

/** The webhooks service on a fresh database and an in-process bus, with short retry delays. */
export async function startWebhooks(env: Record<string, string> = {}): Promise<Harness> {
  const db = await freshDatabase('webhooks');
  const bus = new InProcessBus();
  const config = readConfig({
    DATABASE_URL: db.url,
    INTERNAL_TOKEN_SECRET: TEST_SECRET,
    PORT: '0',
    LOG_LEVEL: 'silent',
    WEBHOOK_SECRET_KEY: WEBHOOK_KEY_HEX,
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    WEBHOOK_RETRY_BASE_MS: '20',
    WEBHOOK_POLL_MS: '20',
    OUTBOX_POLL_MS: '20',
    ...env,
  });
  const svc = await startService(webhooksService, config, { inProcessBus: bus, logger: createLogger('webhooks', 'silent') });
  return {
    svc,
    bus,
    async stop() {
      await svc.stop();
      await db.drop();
    },
  };
}

/** What the gateway would send for an acf_ key of this owner. */
export const as = (ownerId: string, role = 'buyer') => ({
  'x-internal-principal': signPrincipal({ owner_id: ownerId, kind: 'acf_key', key_id: `acf_${ownerId}`, roles: [role], org_id: null, rate_limit: 60 }, TEST_SECRET),
});
export const asService = () => ({ 'x-internal-principal': serviceToken('test', TEST_SECRET) });

export async function call(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

let seq = 0;
export function serviceCalled(over: { buyer_id: string; provider_id: string; amount_micros?: string; service_id?: string }): AnyEnvelope {
  seq++;
  const serviceId = over.service_id ?? 'svc-1';
  return createEnvelope('metering', 'service.called', serviceId, {
    usage_id: `u-${Date.now()}-${seq}`,
    service_id: serviceId,
    amount_micros: '50000',
    free_tier: false,
    payment_method: 'balance',
    status_code: 200,
    latency_ms: 150,
    ...over,
  }) as AnyEnvelope;
}

export function paymentCompleted(over: { buyer_id: string; provider_id: string }): AnyEnvelope {
  seq++;
  return createEnvelope('wallets', 'payment.completed', over.buyer_id, {
    payment_id: `pay-${seq}`,
    usage_id: `u-pay-${seq}`,
    service_id: 'svc-1',
    amount_micros: '50000',
    method: 'balance',
    ...over,
  }) as AnyEnvelope;
}
