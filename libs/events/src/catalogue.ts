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

const departmentPayload = z.object({ department_id: id, org_id: id, name: z.string(), budget_limit: micros });
const walletAgentPayload = z.object({
  agent_id: id,
  org_id: id.nullable(),
  owner_id: id,
  name: z.string(),
  department_id: id.nullable(),
  wallet_address: z.string(),
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
  // Spec 001 departments; budget_limit is integer micro-USDC.
  'department.created': { version: 1, schema: departmentPayload },
  'department.updated': { version: 1, schema: departmentPayload },
  'department.deleted': { version: 1, schema: departmentPayload },
  // marketplace
  'service.registered': { version: 1, schema: servicePayload },
  'service.updated': { version: 1, schema: servicePayload },
  'service.removed': { version: 1, schema: servicePayload },
  /** Spec 003: the runtime gives the agent these tools; subject = agent_id (installs on one agent stay in order). */
  'plugin.installed': {
    version: 1,
    schema: z.object({
      install_id: id,
      agent_id: id,
      plugin_id: id,
      plugin_name: z.string(),
      plugin_version: z.string(),
      tools: z.array(z.object({ name: z.string(), description: z.string() })),
      installed_by: id,
    }),
  },
  'plugin.uninstalled': { version: 1, schema: z.object({ install_id: id, agent_id: id, plugin_id: id, uninstalled_by: id }) },
  /** Spec 002 teams; admin stats count active teams from these. */
  'team.created': { version: 1, schema: z.object({ team_id: id, owner_id: id, name: z.string() }) },
  'team.archived': { version: 1, schema: z.object({ team_id: id, owner_id: id }) },
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
    schema: z.object({
      payment_id: id,
      usage_id: id,
      buyer_id: id,
      provider_id: z.string(),
      service_id: z.string(),
      amount_micros: micros,
      method: z.string(),
      /** The spec 001 agent wallet that paid, when one did (identity attributes department spend by it). */
      agent_id: id.optional(),
    }),
  },
  'balance.funded': { version: 1, schema: z.object({ entry_id: id, owner_id: id, amount_micros: micros, source: z.string() }) },
  'credits.granted': { version: 1, schema: z.object({ owner_id: id, credits: z.number().int().positive(), reason: z.string() }) },
  /** A credit pack paid through Stripe and credited (spec 000); `amount_cents` in the smallest unit of `currency`. */
  'credits.purchased': {
    version: 1,
    schema: z.object({
      purchase_id: id,
      owner_id: id,
      pack_id: id,
      credits: z.number().int().positive(),
      amount_cents: z.number().int().positive(),
      currency: z.string(),
      method: z.enum(['saved_payment_method', 'checkout']),
    }),
  },
  /** Credits used by one platform event (spec 000 pricing); `source_event_id` is that event's id. */
  'credits.consumed': {
    version: 1,
    schema: z.object({
      owner_id: id,
      credits: z.number().int().positive(),
      reason: z.enum(['validate_call', 'incident_created', 'webhook_sent']),
      source_event_id: id,
      balance_after: z.number().int().nonnegative(),
    }),
  },
  // Spec 001 agent wallets; the agent id is also the agent's spec 002 identity id.
  'wallet.agent.created': { version: 1, schema: walletAgentPayload },
  'wallet.agent.updated': { version: 1, schema: walletAgentPayload },
  'wallet.agent.deactivated': { version: 1, schema: walletAgentPayload },
  /**
   * USDC that reached an agent wallet on chain and was recorded (spec 001 fund, an on-ramp
   * purchase, an auto top-up). `account_id`: the organization, else the user, the agent belongs to.
   */
  'wallet.agent.funded': {
    version: 1,
    schema: z.object({ entry_id: id, agent_id: id, account_id: id, tx_hash: z.string(), amount_micros: micros, source: z.enum(['fund', 'onramp', 'auto_topup']) }),
  },
  /** USDC drained on chain from an agent wallet to `to_address` (spec 001 drain, or deactivation). */
  'wallet.agent.drained': {
    version: 1,
    schema: z.object({ entry_id: id, agent_id: id, account_id: id, tx_hash: z.string(), amount_micros: micros, to_address: z.string() }),
  },
  /** A spec 001 payment session's deposit reached the treasury; `expires_at` ISO 8601. */
  'session.opened': {
    version: 1,
    schema: z.object({ session_id: id, agent_id: id, account_id: id, deposit_micros: micros, deposit_tx_hash: z.string(), expires_at: z.string() }),
  },
  /** A session was closed and its unused deposit refunded on chain (`refund_tx_hash` null when nothing was left). */
  'session.closed': {
    version: 1,
    schema: z.object({
      session_id: id,
      agent_id: id,
      account_id: id,
      deposit_micros: micros,
      used_micros: micros,
      refunded_micros: micros,
      call_count: z.number().int().nonnegative(),
      refund_tx_hash: z.string().nullable(),
    }),
  },
  // reputation
  'reputation.updated': { version: 1, schema: z.object({ agent_id: id, service_id: z.string(), overall_score: z.number(), call_count: z.number().int() }) },
  // runtime
  /**
   * Spec 000 `POST /validate`: one tool-call validation answered (valid or not); costs the
   * owner 1 credit. `owner_id` is the caller's owner (the org for a bks_live_ key).
   */
  'runtime.validated': { version: 1, schema: z.object({ validation_id: id, owner_id: id, valid: z.boolean() }) },
  /** Spec 000: an incident was created (costs the owner 5 credits); `run_id` when it belongs to a run. */
  'runtime.incident': { version: 1, schema: z.object({ incident_id: id, owner_id: id, run_id: id.optional() }) },
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
  'department.created': 'identity',
  'department.updated': 'identity',
  'department.deleted': 'identity',
  'service.registered': 'marketplace',
  'service.updated': 'marketplace',
  'service.removed': 'marketplace',
  'plugin.installed': 'marketplace',
  'plugin.uninstalled': 'marketplace',
  'team.created': 'marketplace',
  'team.archived': 'marketplace',
  'service.called': 'metering',
  'payment.completed': 'wallets',
  'balance.funded': 'wallets',
  'credits.granted': 'wallets',
  'credits.purchased': 'wallets',
  'credits.consumed': 'wallets',
  'runtime.validated': 'runtime',
  'runtime.incident': 'runtime',
  'wallet.agent.created': 'wallets',
  'wallet.agent.updated': 'wallets',
  'wallet.agent.deactivated': 'wallets',
  'wallet.agent.funded': 'wallets',
  'wallet.agent.drained': 'wallets',
  'session.opened': 'wallets',
  'session.closed': 'wallets',
  'reputation.updated': 'reputation',
  'settlement.completed': 'settlements',
  'webhook.delivered': 'webhooks',
};

export const SERVICES = ['identity', 'wallets', 'marketplace', 'metering', 'reputation', 'settlements', 'runtime', 'webhooks'] as const;
