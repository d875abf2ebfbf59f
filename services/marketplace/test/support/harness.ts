import { InProcessBus } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { signPrincipal, Principal } from '@platform/auth';
import { marketplaceService, readConfig } from '../../src';
import type { Db } from '../../src/db/client';

export interface Marketplace {
  svc: RunningService<Db>;
  bus: InProcessBus;
  stop(): Promise<void>;
}

export async function startMarketplace(): Promise<Marketplace> {
  const bus = new InProcessBus();
  const db = await freshDatabase('marketplace');
  const config = readConfig({ DATABASE_URL: db.url, INTERNAL_TOKEN_SECRET: TEST_SECRET, PORT: '0', LOG_LEVEL: 'silent', OUTBOX_POLL_MS: '20' });
  const svc = await startService(marketplaceService, config, { inProcessBus: bus, logger: createLogger('marketplace', 'silent') });
  return {
    svc,
    bus,
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
