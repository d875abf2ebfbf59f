/**
 * How spec 001 names services: the slug in `POST /services/{slug}/...`, the host a policy's
 * allowed/blocked lists are matched against, and which registered service an external URL
 * belongs to. Pure functions.
 */

/** "Exa Search" → "exa-search": lower case, every run of other characters one "-". */
export function slugOf(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100);
}

/** Lower-case host[:port] of an endpoint URL ("" when it is not a URL); default ports are dropped as URL does. */
export function endpointHostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host.toLowerCase();
  } catch {
    return '';
  }
}

/**
 * The service name of an external URL, for policies and `_indiegent.service`: the host without
 * a leading "api." or "www." label (spec 001: https://api.exa.ai/search is "exa.ai"), so a
 * policy entry "exa" or "exa.ai" names it.
 */
export function externalServiceName(url: URL): string {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const labels = host.split('.');
  if (labels.length > 2 && (labels[0] === 'api' || labels[0] === 'www') && !/^\d+$/.test(labels[labels.length - 1])) return labels.slice(1).join('.');
  return host;
}

/**
 * The registered endpoint an external URL falls under: same scheme and host[:port], and the
 * URL's path at or below the endpoint's path (on a "/" boundary). The longest endpoint path
 * wins, so a provider's /v2 service is not priced as its /v1 one.
 */
export function matchEndpoint<T extends { endpoint: string }>(url: URL, candidates: T[]): T | null {
  let best: { c: T; length: number } | null = null;
  for (const c of candidates) {
    let e: URL;
    try {
      e = new URL(c.endpoint);
    } catch {
      continue;
    }
    if (e.protocol !== url.protocol || e.host.toLowerCase() !== url.host.toLowerCase()) continue;
    const base = e.pathname.replace(/\/+$/, '');
    const path = url.pathname;
    if (base && path !== base && !path.startsWith(`${base}/`)) continue;
    if (!best || base.length > best.length) best = { c, length: base.length };
  }
  return best?.c ?? null;
}
