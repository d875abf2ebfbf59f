import type { RouteEntry, ServiceName } from './routes';
import { SERVICE_NAMES } from './routes';

/** Spec 002 `GET /`. */
export const SERVICE_INFO = { service: 'Agent Commerce Framework', version: '0.6.0', docs: '/docs' } as const;

const PURPOSE: Record<ServiceName, string> = {
  identity: 'API keys of every family, self-onboarding, agent identities, users, organizations',
  wallets: 'agent wallets, spending policies, payment sessions, balances and credits',
  marketplace: 'service registry, discovery, templates, teams, plugins, provider views',
  metering: 'the payment proxy: pay-per-call forwarding, external fetch, usage',
  reputation: 'reputation and trust scores computed from real usage',
  settlements: 'provider settlements, earnings, admin statistics and analytics',
  runtime: 'hosted agents, durable state, tool-call validation, runs and incidents',
  webhooks: 'webhook subscriptions and signed deliveries',
};

const FAMILY_SHAPE = { detail: '{"detail": "..."}', error: '{"error": "..."}', ok: '{"ok": false, "error": {"code", "message"}}' } as const;

function families(routes: readonly RouteEntry[]) {
  return SERVICE_NAMES.map((service) => ({
    service,
    description: PURPOSE[service],
    routes: routes.filter((r) => r.service === service).map((r) => ({ path: r.pattern, auth: r.auth, error_shape: r.family })),
  }));
}

/** Spec 000 `/agents.json`: what an agent needs to start on its own. */
export function agentsJson(base: string, routes: readonly RouteEntry[], limits: { perMinute: number; burst: number }) {
  return {
    name: SERVICE_INFO.service,
    version: SERVICE_INFO.version,
    base_url: base,
    onboarding: { method: 'POST', url: `${base}/agent-onboard`, auth: 'none', body: { agent_identity: 'my-agent/1.0.0', org_name: 'My Agent Org', project_name: 'default' } },
    authentication: {
      header: 'Authorization: Bearer <credential>',
      alternative_header: 'X-API-Key: <credential>',
      credentials: ['{key_id}:{secret} (acf_ keys)', 'bks_live_…', 'pa_…', 'ig_live_… / ig_test_…', 'JWT'],
    },
    rate_limits: { per_ip_per_minute: limits.perMinute, per_ip_burst: limits.burst, per_key: 'the key\'s rate_limit per minute' },
    error_shapes: FAMILY_SHAPE,
    route_families: families(routes),
    documents: { llms_txt: `${base}/llms.txt`, llms_full_txt: `${base}/llms-full.txt`, ai_plugin: `${base}/.well-known/ai-plugin.json` },
  };
}

/** Spec 000 `/.well-known/ai-plugin.json`. */
export function aiPlugin(base: string) {
  return {
    schema_version: 'v1',
    name_for_human: SERVICE_INFO.service,
    name_for_model: 'agent_commerce',
    description_for_human: 'Discover paid APIs, call them with per-call billing, and manage agent identities, wallets and reputation.',
    description_for_model:
      'Agent commerce platform. Self-provision with POST /agent-onboard (no auth), then send Authorization: Bearer <api_key>. Route families are listed in /agents.json.',
    auth: { type: 'service_http', authorization_type: 'bearer' },
    api: { type: 'agents.json', url: `${base}/agents.json` },
  };
}

/** Spec 000 `/llms.txt`: the short, human- and model-readable map. */
export function llmsTxt(base: string, routes: readonly RouteEntry[], full = false): string {
  const lines = [
    `# ${SERVICE_INFO.service}`,
    '',
    '> A platform where AI agents provision their own keys, hold budgets, discover paid APIs, call them through a metering proxy, and build reputation from real usage.',
    '',
    `Base URL: ${base}`,
    '',
    '## Start',
    '',
    `- [Self-onboard](${base}/agent-onboard): POST {"agent_identity", "org_name", "project_name"} with no auth; answers a bks_live_ key and 100 free credits.`,
    `- [Create a key](${base}/api/v1/keys): POST {"owner_id", "role"}; buyer keys need no auth.`,
    '- Authenticate with `Authorization: Bearer <key_id>:<secret>` (or a bks_live_/pa_/ig_ key, or `X-API-Key`).',
    '- Rate limits: 60 requests/minute per IP (burst 120) and each key\'s own rate_limit; 429 carries Retry-After.',
    '',
    '## Route families',
    '',
  ];
  for (const f of families(routes)) {
    lines.push(`- ${f.service}: ${f.description}`);
    if (full) for (const r of f.routes) lines.push(`  - ${r.path} (auth ${r.auth}, errors ${FAMILY_SHAPE[r.error_shape]})`);
  }
  lines.push('', '## Documents', '', `- [agents.json](${base}/agents.json)`, `- [ai-plugin.json](${base}/.well-known/ai-plugin.json)`);
  if (!full) lines.push(`- [llms-full.txt](${base}/llms-full.txt): every route pattern`);
  return lines.join('\n') + '\n';
}
