import { z } from 'zod';

/**
 * The event catalogue: every event type, its schema version and payload schema. Payloads
 * carry ids and the minimum data; amounts are micro-USDC as decimal strings of integers
 * (bigint-safe on the wire), never floats.
 */
const id = z.string().min(1);
const micros = z.string().regex(/^\d+$/, 'integer micro-USDC as a string');

const servicePayload = z.object({
  service_id: id,
  provider_id: id,
  name: z.string(),
  endpoint: z.string(),
  price_micros: micros,
  payment_method: z.string(),
  free_tier_calls: z.number().int().nonnegative(),
  status: z.enum(['active', 'paused', 'removed']),
  category: z.string(),
  tags: z.array(z.string()),
});

export const catalogue = {
  // identity
  'key.created': { version: 1, schema: z.object({ key_id: id, owner_id: id, role: z.string(), rate_limit: z.number().int(), family: z.string() }) },
  'key.revoked': { version: 1, schema: z.object({ key_id: id, owner_id: id, family: z.string() }) },
  'agent.onboarded': {
    version: 1,
    schema: z.object({ owner_id: id, org_id: id, project_id: id, env_id: id, key_id: id, agent_identity: z.string(), free_credits: z.number().int().nonnegative() }),
  },
  'agent.registered': { version: 1, schema: z.object({ agent_id: id, owner_id: id, display_name: z.string(), status: z.string() }) },
  'agent.updated': { version: 1, schema: z.object({ agent_id: id, owner_id: id, display_name: z.string(), status: z.string(), verified: z.boolean() }) },
  // marketplace
  'service.registered': { version: 1, schema: servicePayload },
  'service.updated': { version: 1, schema: servicePayload },
  'service.removed': { version: 1, schema: servicePayload },
  // metering
  'service.called': {
    version: 1,
    schema: z.object({
      usage_id: id,
      service_id: id,
      buyer_id: id,
      provider_id: id,
      amount_micros: micros,
      free_tier: z.boolean(),
      payment_method: z.string(),
      status_code: z.number().int(),
      latency_ms: z.number().int().nonnegative(),
      category: z.string().optional(),
    }),
  },
  // wallets
  'payment.completed': {
    version: 1,
    schema: z.object({ payment_id: id, usage_id: id, buyer_id: id, provider_id: z.string(), service_id: z.string(), amount_micros: micros, method: z.string() }),
  },
  'balance.funded': { version: 1, schema: z.object({ entry_id: id, owner_id: id, amount_micros: micros, source: z.string() }) },
  'credits.granted': { version: 1, schema: z.object({ owner_id: id, credits: z.number().int().positive(), reason: z.string() }) },
  // reputation
  'reputation.updated': { version: 1, schema: z.object({ agent_id: id, service_id: z.string(), overall_score: z.number(), call_count: z.number().int() }) },
  // settlements
  'settlement.completed': { version: 1, schema: z.object({ settlement_id: id, provider_id: id, net_micros: micros, payment_tx: z.string() }) },
  // webhooks
  'webhook.delivered': { version: 1, schema: z.object({ delivery_id: id, webhook_id: id, owner_id: id, event: z.string(), status_code: z.number().int(), attempts: z.number().int() }) },
} as const;

export type EventType = keyof typeof catalogue;
export type EventData<T extends EventType> = z.infer<(typeof catalogue)[T]['schema']>;
export const EVENT_TYPES = Object.keys(catalogue) as EventType[];

export function isEventType(t: string): t is EventType {
  return Object.prototype.hasOwnProperty.call(catalogue, t);
}

/** Which service produces each type: a type has exactly one producer, hence one topic. */
export const producerOf: Record<EventType, string> = {
  'key.created': 'identity',
  'key.revoked': 'identity',
  'agent.onboarded': 'identity',
  'agent.registered': 'identity',
  'agent.updated': 'identity',
  'service.registered': 'marketplace',
  'service.updated': 'marketplace',
  'service.removed': 'marketplace',
  'service.called': 'metering',
  'payment.completed': 'wallets',
  'balance.funded': 'wallets',
  'credits.granted': 'wallets',
  'reputation.updated': 'reputation',
  'settlement.completed': 'settlements',
  'webhook.delivered': 'webhooks',
};

export const SERVICES = ['identity', 'wallets', 'marketplace', 'metering', 'reputation', 'settlements', 'runtime', 'webhooks'] as const;
