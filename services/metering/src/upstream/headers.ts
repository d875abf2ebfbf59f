import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { INTERNAL_HEADERS } from '@platform/auth';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus `host` and `expect`, which the proxy sets itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);

/** The buyer's credentials and the platform's own headers never reach a provider. */
const PRIVATE_REQUEST = new Set([
  'authorization',
  'x-api-key',
  'cookie',
  ...INTERNAL_HEADERS,
  // Where the buyer connects from is the platform's knowledge, not the provider's.
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  // Spec 001 payment headers are the platform's instructions, not the provider's business.
  'x-agent-wallet',
  'x-session-id',
]);

/**
 * Headers a provider may not pass to the buyer: cookies would be scoped to the platform's
 * domain, billing headers are the platform's to set, and the request id is the platform's.
 */
const PRIVATE_RESPONSE = new Set(['set-cookie', 'x-request-id']);

/** Names listed in Connection are hop-by-hop for this message too (RFC 9110 §7.6.1). */
function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const raw = headers.connection;
  const values = Array.isArray(raw) ? raw : raw ? [raw] : [];
  return new Set(values.flatMap((v) => v.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean));
}

function filter(headers: IncomingHttpHeaders, drop: (name: string) => boolean): OutgoingHttpHeaders {
  const listed = connectionListed(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    const n = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(n) || n.startsWith('proxy-') || listed.has(n) || drop(n)) continue;
    out[n] = value;
  }
  return out;
}

export const forwardableRequestHeaders = (h: IncomingHttpHeaders) => filter(h, (n) => PRIVATE_REQUEST.has(n));
export const forwardableResponseHeaders = (h: IncomingHttpHeaders) => filter(h, (n) => PRIVATE_RESPONSE.has(n) || n.startsWith('x-acf-'));
