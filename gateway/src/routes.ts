import type { ErrorFamily } from '@platform/http';

export const SERVICE_NAMES = ['identity', 'wallets', 'marketplace', 'metering', 'reputation', 'settlements', 'runtime', 'webhooks'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface RouteEntry {
  /**
   * Path pattern: literal segments, `{name}` for one segment, and a trailing `*` for "this path
   * and anything below it" (`/api/v1/keys*` matches `/api/v1/keys` and `/api/v1/keys/validate`,
   * not `/api/v1/keysmith`).
   */
  pattern: string;
  service: ServiceName;
  /** The error body shape of the route's spec (CONTRACTS "Error families"). */
  family: ErrorFamily;
  /** required: no credential is a 401 at the gateway. optional: the service decides. */
  auth: 'required' | 'optional';
  /** Also accept the credential from this query parameter (spec 002 `/admin/dashboard?key=…`). */
  queryCredential?: string;
}

const r = (pattern: string, service: ServiceName, family: ErrorFamily, auth: RouteEntry['auth'], extra: Partial<RouteEntry> = {}): RouteEntry => ({
  pattern,
  service,
  family,
  auth,
  ...extra,
});

/**
 * The routing table. Families: spec 002/003 and /admin answer {"detail"}, spec 001 {"error"},
 * spec 000 {"ok": false}, spec 004 {"detail"}. The most specific pattern wins (see `match`).
 */
export const ROUTES: readonly RouteEntry[] = [
  // identity
  r('/api/v1/keys*', 'identity', 'detail', 'optional'),
  r('/api/v1/provider/keys*', 'identity', 'detail', 'required'),
  r('/auth/*', 'identity', 'error', 'optional'),
  r('/api-keys*', 'identity', 'error', 'required'),
  r('/org*', 'identity', 'error', 'required'),
  r('/departments*', 'identity', 'error', 'required'),
  r('/agent-onboard', 'identity', 'ok', 'optional'),
  r('/api/v1/public/agents/*', 'identity', 'detail', 'optional'),
  r('/api/v1/agents', 'identity', 'detail', 'optional'),
  r('/api/v1/agents/search', 'identity', 'detail', 'optional'),
  r('/api/v1/agents/{id}', 'identity', 'detail', 'optional'),
  r('/api/v1/agents/{id}/verify', 'identity', 'detail', 'required'),
  // reputation
  r('/api/v1/agents/{id}/reputation', 'reputation', 'detail', 'optional'),
  r('/api/v1/services/{id}/reputation', 'reputation', 'detail', 'optional'),
  r('/api/v1/reputation/*', 'reputation', 'detail', 'optional'),
  r('/api/v1/agents/{id}/trust*', 'reputation', 'detail', 'optional'),
  r('/api/v1/agents/trust/*', 'reputation', 'detail', 'optional'),
  // marketplace
  r('/api/v1/services*', 'marketplace', 'detail', 'optional'),
  r('/api/v1/discover*', 'marketplace', 'detail', 'optional'),
  r('/api/v1/templates*', 'marketplace', 'detail', 'optional'),
  r('/api/v1/teams*', 'marketplace', 'detail', 'optional'),
  r('/api/v1/agents/{id}/plugins*', 'marketplace', 'detail', 'required'),
  r('/api/v1/plugins*', 'marketplace', 'detail', 'optional'),
  r('/api/v1/provider/services', 'marketplace', 'detail', 'required'),
  r('/api/v1/provider/services/{id}/test', 'marketplace', 'detail', 'required'),
  r('/api/v1/provider/onboarding', 'marketplace', 'detail', 'required'),
  // metering
  r('/api/v1/proxy/*', 'metering', 'detail', 'required'),
  r('/api/v1/usage/*', 'metering', 'detail', 'required'),
  r('/external/*', 'metering', 'error', 'required'),
  r('/services/*', 'metering', 'error', 'required'),
  r('/.well-known/agent-pay.md', 'metering', 'detail', 'optional'),
  r('/.well-known/agent-pay.json', 'metering', 'detail', 'optional'),
  // wallets
  r('/agents*', 'wallets', 'error', 'required'),
  r('/sessions*', 'wallets', 'error', 'required'),
  r('/transactions', 'wallets', 'error', 'required'),
  r('/balance', 'wallets', 'error', 'required'),
  r('/agent-credits', 'wallets', 'ok', 'required'),
  r('/stripe/webhook', 'wallets', 'error', 'optional'),
  r('/dev/*', 'wallets', 'detail', 'optional'),
  // settlements
  r('/api/v1/settlements*', 'settlements', 'detail', 'required'),
  r('/api/v1/provider/dashboard', 'settlements', 'detail', 'required'),
  r('/api/v1/provider/earnings', 'settlements', 'detail', 'required'),
  r('/api/v1/provider/services/{id}/analytics', 'settlements', 'detail', 'required'),
  r('/api/v1/admin/*', 'settlements', 'detail', 'required'),
  r('/admin/*', 'settlements', 'detail', 'required', { queryCredential: 'key' }),
  r('/analytics/*', 'settlements', 'error', 'required'),
  // runtime
  r('/v1/agent/*', 'runtime', 'detail', 'required'),
  r('/v1/webhooks/triggers/*', 'runtime', 'detail', 'optional'),
  r('/api/v1/cloud/*', 'runtime', 'detail', 'required'),
  r('/api/v1/mcp/*', 'runtime', 'detail', 'required'),
  r('/validate', 'runtime', 'ok', 'required'),
  r('/runs*', 'runtime', 'ok', 'required'),
  r('/incidents*', 'runtime', 'ok', 'required'),
  // webhooks
  r('/api/v1/webhooks*', 'webhooks', 'detail', 'required'),
];

type Seg = { kind: 'literal'; value: string } | { kind: 'param' };
interface Compiled {
  entry: RouteEntry;
  segs: Seg[];
  wildcard: boolean;
}

function compile(entry: RouteEntry): Compiled {
  let p = entry.pattern;
  const wildcard = p.endsWith('*');
  if (wildcard) p = p.slice(0, -1).replace(/\/$/, '');
  const segs: Seg[] = p
    .split('/')
    .filter(Boolean)
    .map((s) => (/^\{[a-z_]+\}$/.test(s) ? { kind: 'param' } : { kind: 'literal', value: s }));
  return { entry, segs, wildcard };
}

/**
 * Per-position ranks for "most specific wins": a literal beats a parameter, which beats the
 * end of an exact pattern, which beats a wildcard tail. Compared left to right.
 */
function ranks(c: Compiled, pathLength: number): number[] {
  const out: number[] = c.segs.map((s) => (s.kind === 'literal' ? 4 : 3));
  if (c.wildcard) {
    if (pathLength > c.segs.length) out.push(1);
  } else out.push(2);
  return out;
}

function moreSpecific(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return false;
}

export class RouteTable {
  private compiled: Compiled[];
  private firstSegment = new Map<string, Compiled[]>();

  constructor(readonly routes: readonly RouteEntry[] = ROUTES) {
    this.compiled = routes.map(compile);
    // Every pattern starts with a literal; index by it so a lookup scans a handful of entries.
    for (const c of this.compiled) {
      const first = c.segs[0];
      if (first?.kind !== 'literal') throw new Error(`route ${c.entry.pattern} must start with a literal segment`);
      this.firstSegment.set(first.value, [...(this.firstSegment.get(first.value) ?? []), c]);
    }
  }

  /** The route for a request path (no query string), or null. /internal/* never matches. */
  match(path: string): RouteEntry | null {
    const segs = path.split('/').filter(Boolean);
    if (!segs.length || !isRoutablePath(segs)) return null;
    let best: { c: Compiled; rank: number[] } | null = null;
    for (const c of this.firstSegment.get(segs[0]) ?? []) {
      if (!matches(c, segs)) continue;
      const rank = ranks(c, segs.length);
      if (!best || moreSpecific(rank, best.rank)) best = { c, rank };
    }
    return best?.c.entry ?? null;
  }
}

function matches(c: Compiled, segs: string[]): boolean {
  if (c.wildcard ? segs.length < c.segs.length : segs.length !== c.segs.length) return false;
  return c.segs.every((s, i) => s.kind === 'param' || s.value === segs[i]);
}

/** Dot segments and /internal (in any case or encoding) never leave the gateway. */
function isRoutablePath(segs: string[]): boolean {
  for (const raw of segs) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return false;
    }
    if (s === '.' || s === '..' || s.includes('/') || s.includes('\\')) return false;
  }
  return decodeURIComponent(segs[0]).toLowerCase() !== 'internal';
}

/** The error family for a path no route matched, by the spec its prefix belongs to. */
export function familyForPath(path: string): ErrorFamily {
  if (/^\/(agent-onboard|agent-credits|validate|runs|incidents)(\/|$)/.test(path)) return 'ok';
  if (/^\/(auth|api-keys|org|departments|agents|sessions|transactions|balance|external|analytics|services)(\/|$)/.test(path)) return 'error';
  return 'detail';
}
