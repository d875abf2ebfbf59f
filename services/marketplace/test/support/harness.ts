import { AnyEnvelope, createEnvelope, EventData, EventType, InProcessBus } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { signPrincipal, Principal } from '@platform/auth';
import { marketplaceService, readConfig } from '../../src';
import type { Db } from '../../src/db/client';

export interface Marketplace {
  svc: RunningService<Db>;
  bus: InProcessBus;
  /** Publishes an event as its producer would (another service's, as seen by marketplace). */
  emit<T extends EventType>(source: string, type: T, subject: string, data: EventData<T>, opts?: { time?: Date }): Promise<AnyEnvelope>;
  stop(): Promise<void>;
}

export async function startMarketplace(env: Record<string, string> = {}): Promise<Marketplace> {
  const bus = new InProcessBus();
  const db = await freshDatabase('marketplace');
  const config = readConfig({ DATABASE_URL: db.url, INTERNAL_TOKEN_SECRET: TEST_SECRET, PORT: '0', LOG_LEVEL: 'silent', OUTBOX_POLL_MS: '20', ...env });
  const svc = await startService(marketplaceService, config, { inProcessBus: bus, logger: createLogger('marketplace', 'silent') });
  return {
    svc,
    bus,
    async emit(source, type, subject, data, opts = {}) {
      const e = createEnvelope(source, type, subject, data) as AnyEnvelope;
      if (opts.time) e.time = opts.time.toISOString();
      await bus.publish([e]);
      return e;
    },
    stop: async () => {
      await svc.stop();
      await db.drop();
    },
  };
}

export const principal = (owner_id: string, role: string): Principal => ({
  owner_id,
  kind: 'acf_key',
  key_id: `acf_${owner_id}`,
  roles: [role],
  org_id: null,
  rate_limit: 60,
});

export interface Reply {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** A call as the gateway would forward it: the principal travels signed in X-Internal-Principal. */
export async function call(base: string, method: string, path: string, opts: { as?: Principal; body?: unknown; raw?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.as) headers['x-internal-principal'] = signPrincipal(opts.as, TEST_SECRET);
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Spec 002's register example. */
export const sentimentApi = (over: Record<string, unknown> = {}) => ({
  name: 'Sentiment Analysis API',
  description: 'Analyze text sentiment with confidence scores',
  endpoint: 'https://my-api.example.com/v1',
  price_per_call: '0.05',
  category: 'ai',
  tags: ['nlp', 'sentiment'],
  payment_method: 'x402',
  free_tier_calls: 50,
  ...over,
});

/** The principal a platform agent's pa_ key carries: it owns itself. */
export const agentPrincipal = (agentId: string): Principal => ({
  owner_id: agentId,
  kind: 'pa_key',
  key_id: `pa_${agentId.slice(0, 8)}`,
  roles: ['agent'],
  org_id: null,
  rate_limit: 60,
  agent_id: agentId,
});

/** A service.called payload as metering emits it. */
export const called = (over: { service_id: string; buyer_id: string; provider_id: string } & Partial<EventData<'service.called'>>): EventData<'service.called'> => ({
  usage_id: `${Math.random().toString(16).slice(2)}-${Date.now()}`,
  amount_micros: '50000',
  free_tier: false,
  payment_method: 'x402',
  status_code: 200,
  latency_ms: 100,
  ...over,
});
