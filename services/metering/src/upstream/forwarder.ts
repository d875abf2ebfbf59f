import http, { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { checkOutboundUrl, CheckedTarget, normalizeAllowHosts } from '@platform/http';

export class ProviderTimeout extends Error {}
export class ProviderUnreachable extends Error {}
/** The buyer went away before the provider answered. */
export class CallerGone extends Error {}

export interface ForwardRequest {
  target: CheckedTarget;
  method: string;
  /** Path and query to send, already joined (see upstreamPath). */
  path: string;
  headers: OutgoingHttpHeaders;
  body: Readable;
}

export interface Forwarding {
  /** Resolves with the provider's response once its headers arrive. */
  response: Promise<IncomingMessage>;
  abort(): void;
}

/** How long a vetted endpoint's address is reused; DNS per call would sit on the hot path. */
const VET_TTL_MS = 30_000;
const VET_CACHE_MAX = 5_000;

/**
 * Sends a call to a provider over keep-alive connections. The address connected to is the
 * one checkOutboundUrl vetted (so DNS cannot be rebound between check and connect), while
 * Host and TLS SNI carry the endpoint's own name.
 */
export function createForwarder(opts: { allowHosts: string[]; timeoutMs: number }) {
  const allowHosts = normalizeAllowHosts(opts.allowHosts);
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 256 });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 256 });
  const vetted = new Map<string, { target: CheckedTarget; until: number }>();

  return {
    /** Refuses private, loopback and link-local targets unless allow-listed (403), or unresolvable ones (502). */
    async vet(endpoint: string): Promise<CheckedTarget> {
      const now = Date.now();
      const hit = vetted.get(endpoint);
      if (hit && hit.until > now) return hit.target;
      const target = await checkOutboundUrl(endpoint, allowHosts);
      if (vetted.size >= VET_CACHE_MAX) vetted.clear();
      vetted.set(endpoint, { target, until: now + VET_TTL_MS });
      return target;
    },

    send(f: ForwardRequest): Forwarding {
      const url = f.target.url;
      const secure = url.protocol === 'https:';
      const hostname = url.hostname.replace(/^\[|\]$/g, '');
      let settle: { resolve: (r: IncomingMessage) => void; reject: (e: Error) => void };
      const response = new Promise<IncomingMessage>((resolve, reject) => (settle = { resolve, reject }));
      let failure: Error | undefined;

      let req: http.ClientRequest;
      try {
        req = (secure ? https : http).request({
          host: f.target.address,
          family: f.target.family,
          port: url.port || (secure ? 443 : 80),
          method: f.method,
          path: f.path,
          headers: { ...f.headers, host: url.host },
          agent: secure ? httpsAgent : httpAgent,
          ...(secure && !net.isIP(hostname) ? { servername: hostname } : {}),
        });
      } catch (err) {
        return { response: Promise.reject(new ProviderUnreachable((err as Error).message)), abort: () => undefined };
      }
      const fail = (err: Error) => {
        failure ??= err;
        req.destroy(failure);
      };
      const timer = setTimeout(() => fail(new ProviderTimeout(`provider did not answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      timer.unref();
      req.on('response', (res) => {
        clearTimeout(timer);
        settle.resolve(res);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        settle.reject(failure ?? new ProviderUnreachable(err.message));
      });
      f.body.on('error', () => fail(new CallerGone('request body aborted')));
      f.body.pipe(req);
      return { response, abort: () => fail(new CallerGone('caller went away')) };
    },

    close(): void {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
export type Forwarder = ReturnType<typeof createForwarder>;
