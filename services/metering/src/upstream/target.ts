import { AppError } from '@platform/http';

export interface ProxyTarget {
  serviceId: string;
  /** The raw (still percent-encoded) path after the service id; null when the URL ends at the id. */
  path: string | null;
  /** Raw query string without "?", or "". */
  query: string;
}

const DOT_SEGMENT = /^\.{1,2}$/;

/**
 * Splits "/{service_id}/{path}?{query}" (the URL below /api/v1/proxy) without decoding it,
 * so the provider receives the path exactly as the buyer sent it. Dot segments are refused:
 * they would let a buyer walk out of the provider's endpoint path into its neighbours.
 */
export function parseProxyUrl(url: string): ProxyTarget {
  const q = url.indexOf('?');
  const pathPart = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const rest = pathPart.replace(/^\/+/, '');
  const slash = rest.indexOf('/');
  const serviceId = decodeURIComponentSafe(slash === -1 ? rest : rest.slice(0, slash));
  const path = slash === -1 ? null : rest.slice(slash + 1);
  if (!serviceId || serviceId.length > 100) throw new AppError('NOT_FOUND', 'Service not found');
  // Decoded, and split on both slashes, so "%2e%2e", "..%2f" and "..\\" are caught as well.
  const walksOut = path !== null && path.split('/').some((seg) => decodeURIComponentSafe(seg).split(/[\\/]/).some((p) => DOT_SEGMENT.test(p)));
  // Node refuses to send such a request line; say so before anything is charged.
  if (/[^\u0021-\u00ff]/.test(`${path ?? ''}${query}`)) throw new AppError('BAD_REQUEST', 'Path and query must be percent-encoded');
  if (walksOut) throw new AppError('BAD_REQUEST', 'Path must not contain "." or ".." segments');
  return { serviceId, path, query };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * `${endpoint}/${path}?${query}`: the endpoint's own path and query are kept, the buyer's
 * path is appended below it and the buyer's query after the endpoint's.
 */
export function upstreamPath(endpoint: URL, path: string | null, query: string): string {
  const basePath = endpoint.pathname || '/';
  const joined = path === null ? basePath : `${basePath.replace(/\/+$/, '')}/${path}`;
  const queries = [endpoint.search.replace(/^\?/, ''), query].filter(Boolean);
  return queries.length ? `${joined}?${queries.join('&')}` : joined;
}
