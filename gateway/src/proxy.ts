import http, { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { randomFillSync } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import { CLIENT_IP_HEADER, CLIENT_REQUEST_ID_HEADER, INTERNAL_HEADERS, INTERNAL_PRINCIPAL_HEADER, Principal, PrincipalTokenCache } from '@platform/auth';
import { errorBody } from '@platform/http';
import type { Logger } from '@platform/telemetry';
import type { RouteEntry, ServiceName } from './routes';

/** What the gateway decided about a request before forwarding it. */
export interface Forward {
  route: RouteEntry;
  requestId: string;
  /**
   * The request id when the client sent it (then equal to requestId), else null. Only a
   * client's own id may serve as an idempotency key: the gateway makes one up for every other
   * request, and keying on that would make every call unique anyway.
   */
  clientRequestId: string | null;
  principal: Principal | null;
  /** The credential headers the gateway consumed; services get the principal instead. */
  consumedCredential: boolean;
  /** The address the gateway judged the client by (TRUST_PROXY applied); the socket's when absent. */
  clientIp?: string;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

// Trace ids need randomness, not a syscall each: randomBytes(16) + randomBytes(8) cost ~9 µs a request.
const randomPool = Buffer.allocUnsafe(4096);
let randomAt = randomPool.length;
function randomHex(bytes: number): string {
  if (randomAt + bytes > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  const hex = randomPool.toString('hex', randomAt, randomAt + bytes);
  randomAt += bytes;
  return hex;
}

/**
 * Rewrites the request's headers for the service: client-sent internal headers are deleted
 * (only the gateway may vouch for a caller), the signed principal, request id (and, when the
 * client sent that id, X-Client-Request-ID), the client's address and trace context are set.
 * The body is not touched: it streams through as the client sent it.
 */
export function prepareHeaders(req: IncomingMessage, f: Forward, tokens: PrincipalTokenCache): void {
  const h = req.headers;
  for (const name of INTERNAL_HEADERS) delete h[name];
  if (f.principal) h[INTERNAL_PRINCIPAL_HEADER] = tokens.tokenFor(f.principal);
  if (f.consumedCredential) {
    delete h.authorization;
    delete h['x-api-key'];
  }
  h['x-request-id'] = f.requestId;
  // The address the gateway judged the client by (TRUST_PROXY applied); identity limits failed sign-ins per address with it.
  delete h[CLIENT_IP_HEADER];
  const ip = f.clientIp ?? req.socket?.remoteAddress;
  if (ip) h[CLIENT_IP_HEADER] = ip;
  if (f.clientRequestId) h[CLIENT_REQUEST_ID_HEADER] = f.clientRequestId;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (carrier.traceparent) {
    h.traceparent = carrier.traceparent;
    if (carrier.tracestate) h.tracestate = carrier.tracestate;
  } else if (typeof h.traceparent !== 'string' || !TRACEPARENT.test(h.traceparent)) {
    // No tracer and no valid incoming context: start one so the services' logs still join up.
    h.traceparent = `00-${randomHex(16)}-${randomHex(8)}-01`;
    delete h.tracestate;
  }
}

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded either way. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

/**
 * What a client's Connection header can never remove: message framing, the host, and what the
 * gateway itself sets (a listed `x-internal-principal` must not strip the gateway's own).
 */
const NOT_REMOVABLE = new Set(['transfer-encoding', 'content-length', 'host', 'x-request-id', 'traceparent', 'tracestate', CLIENT_IP_HEADER, ...INTERNAL_HEADERS]);

/** Header names a Connection header lists are hop-by-hop too; `keep-alive`/`close` are the usual, harmless values. */
function connectionListed(value: string | string[] | undefined): Set<string> | null {
  if (!value || value === 'keep-alive' || value === 'close') return null;
  let out: Set<string> | null = null;
  for (const token of String(value).split(',')) {
    const name = token.trim().toLowerCase();
    if (name && name !== 'keep-alive' && name !== 'close') (out ??= new Set()).add(name);
  }
  return out;
}

/**
 * The outgoing request's headers, in place: hop-by-hop headers dropped, and X-Forwarded-For,
 * -Port, -Proto appended and X-Forwarded-Host defaulted exactly as http-proxy's `xfwd` did.
 * Transfer-Encoding stays: node re-frames a chunked body itself when it sees it.
 */
function outgoingHeaders(req: IncomingMessage): http.IncomingHttpHeaders {
  const h = req.headers;
  const listed = connectionListed(h.connection);
  for (const name of HOP_BY_HOP) delete h[name];
  if (listed) for (const name of listed) if (!NOT_REMOVABLE.has(name) && !name.startsWith('x-forwarded-')) delete h[name];
  const encrypted = !!(req.socket as { encrypted?: boolean }).encrypted;
  const host = h.host;
  const port = (host && /:(\d+)/.exec(host)?.[1]) || (encrypted ? '443' : '80');
  const append = (name: string, value: string) => {
    const prev = h[name];
    h[name] = prev ? `${prev},${value}` : value;
  };
  append('x-forwarded-for', req.socket.remoteAddress ?? '');
  append('x-forwarded-port', port);
  append('x-forwarded-proto', encrypted ? 'https' : 'http');
  h['x-forwarded-host'] ||= host ?? '';
  return h;
}

/**
 * Upstream answer headers for writeHead, hop-by-hop ones and Transfer-Encoding left out (node
 * frames the body for its own client). An object, not the raw [name, value, …] list: node 20's
 * writeHead keeps only the last of repeated names from a list once setHeader was used (the
 * gateway's X-Request-ID), which would drop all Set-Cookie headers but one.
 */
function answerHeaders(up: IncomingMessage): http.OutgoingHttpHeaders {
  const all = up.headers;
  const listed = connectionListed(all.connection);
  const out: http.OutgoingHttpHeaders = {};
  for (const name in all) {
    if (HOP_BY_HOP.has(name) || name === 'transfer-encoding' || listed?.has(name)) continue;
    out[name] = all[name];
  }
  return out;
}

export interface ServiceProxies {
  /** Forwards a request whose headers prepareHeaders already rewrote; answers 503/504 itself when the service fails. */
  forward(service: ServiceName, req: IncomingMessage, res: ServerResponse, f: Forward): void;
  close(): void;
}

interface Upstream {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  /** The URL's path without a trailing slash ('' for none): prefixed to every forwarded path. */
  base: string;
  agent: http.Agent;
}

type CodedError = Error & { code?: string };

/** Keep-alive sockets idle this long are closed by the gateway, before a service's 65 s keep-alive timeout can race a reuse. */
const IDLE_SOCKET_MS = 30_000;

/**
 * Forwards with node:http over keep-alive agents, round-robin across a service's replicas.
 * The request body streams to the service and the answer streams back (nothing is buffered or
 * parsed). A replica that refuses, resets or cannot be reached answers 503 in the route's
 * family naming the service; one that sends nothing for PROXY_TIMEOUT_MS answers 504. A
 * failure after the answer started closes the client's connection (it must not mistake a cut
 * body for a whole one). A client that goes away aborts the upstream request. A body-less
 * request whose pooled connection turns out closed (the keep-alive race) is sent once more on a
 * fresh one; a request with a body never is, since its bytes are already gone.
 */
export function createServiceProxies(opts: { upstreams: Record<ServiceName, string[]>; timeoutMs: number; logger: Logger }): ServiceProxies {
  const agentOptions = { keepAlive: true, keepAliveMsecs: 1_000, maxSockets: 512, maxFreeSockets: 64, timeout: IDLE_SOCKET_MS };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);
  const pools = new Map<ServiceName, { targets: Upstream[]; next: number }>();
  for (const [service, urls] of Object.entries(opts.upstreams) as [ServiceName, string[]][]) {
    const targets = urls.map((u): Upstream => {
      const url = new URL(u);
      const https = url.protocol === 'https:';
      return {
        protocol: https ? 'https:' : 'http:',
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(url.port) || (https ? 443 : 80),
        base: url.pathname.replace(/\/+$/, ''),
        agent: https ? httpsAgent : httpAgent,
      };
    });
    pools.set(service, { targets, next: 0 });
  }

  function forward(service: ServiceName, req: IncomingMessage, res: ServerResponse, f: Forward): void {
    const pool = pools.get(service);
    if (!pool) throw new Error(`no upstream for ${service}`);
    // The client left while the gateway was checking it: nothing to forward, nobody to answer.
    if (res.destroyed) return;
    const target = pool.targets[pool.next++ % pool.targets.length];
    const headers = outgoingHeaders(req);
    let path = req.url ?? '/';
    // http-proxy joined paths and folded repeated slashes; the route matcher ignores empty segments the same way.
    const q = path.indexOf('?');
    const pathname = q === -1 ? path : path.slice(0, q);
    if (target.base || pathname.includes('//')) path = `${`${target.base}/${pathname}`.replace(/\/{2,}/g, '/')}${q === -1 ? '' : path.slice(q)}`;
    const bodyless = headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0');
    let answered = false;
    let clientGone = false;
    let current: http.ClientRequest | null = null;

    res.once('close', () => {
      // The client went away before its answer was complete: stop the service's work on it too.
      if (res.writableFinished) return;
      clientGone = true;
      current?.destroy();
    });

    const send = (attempt: number) => {
      const out = http.request(
        { protocol: target.protocol, hostname: target.hostname, port: target.port, method: req.method, path, headers, agent: target.agent },
        (up) => {
          answered = true;
          res.writeHead(up.statusCode ?? 502, up.statusMessage, answerHeaders(up));
          // Not stream.pipeline: it costs an AbortController and a DOMException per call (~6% of the gateway's CPU).
          // The client going away destroys `current` (above), which ends `up`; `up` cut short cuts the client's connection.
          up.once('close', () => {
            if (!up.complete) res.destroy();
          });
          up.pipe(res);
        },
      );
      current = out;
      out.setTimeout(opts.timeoutMs, () => {
        const err: CodedError = new Error(`${service} did not answer within ${opts.timeoutMs} ms`);
        err.code = 'ETIMEDOUT';
        out.destroy(err);
      });
      out.on('error', (err: CodedError) => {
        // After the answer started, a failure reaches the client through `up` closing early (its connection is cut).
        if (answered || out !== current) return;
        if (clientGone) return;
        if (attempt === 0 && bodyless && out.reusedSocket && err.code === 'ECONNRESET') return send(1);
        fail(err);
      });
      if (bodyless) out.end();
      else if (attempt === 0) req.pipe(out);
    };

    const fail = (err: CodedError) => {
      if (current) req.unpipe(current);
      // Read and drop what is left of the body, so the client's connection can carry its next request.
      req.resume();
      opts.logger.warn({ service, code: err.code, err: err.message, request_id: f.requestId }, 'upstream failed');
      if (res.headersSent) return void res.destroy();
      const timeout = err.code === 'ETIMEDOUT';
      const message = timeout ? `${service} service did not answer in time` : `${service} service is unavailable`;
      const body = JSON.stringify(errorBody(f.route.family, timeout ? 'GATEWAY_TIMEOUT' : 'UNAVAILABLE', message, f.requestId));
      res.writeHead(timeout ? 504 : 503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };

    send(0);
  }

  return {
    forward,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
