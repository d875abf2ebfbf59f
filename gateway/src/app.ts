import express, { Express, ErrorRequestHandler, Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { PrincipalTokenCache, Principal } from '@platform/auth';
import { AppError, ErrorCode, ErrorFamily, errorBody, listen, ReadinessCheck, RunningServer } from '@platform/http';
import { createBus, EventBus, InProcessBus, sleep } from '@platform/events';
import { createLogger, createMetrics, Logger, ServiceMetrics } from '@platform/telemetry';
import type { GatewayConfig } from './config';
import { RouteTable, familyForPath, ServiceName, SERVICE_NAMES, RouteEntry } from './routes';
import { CredentialVerifier, IdentityClient, JwtVerifier, credentialFrom, httpIdentityClient } from './auth';
import { BucketResult, BucketStep, RateLimitStore, createRateLimitStore } from './rate-limit';
import { ServiceProxies, createServiceProxies, prepareHeaders } from './proxy';
import { clientIpResolver } from './client-ip';
import { SERVICE_INFO, agentsJson, aiPlugin, llmsTxt } from './discovery';

export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  verifier: CredentialVerifier;
  rateLimits: RateLimitStore;
  proxies: ServiceProxies;
  metrics?: ServiceMetrics;
  routes?: RouteTable;
  readiness?: ReadinessCheck[];
}

export interface Gateway {
  /** The node:http request listener: routed paths take the lean path below, every other path goes to `documents`. */
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Express, for what the gateway answers itself: health, readiness, metrics, the discovery documents and 404s. */
  documents: Express;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const RATE_LIMITED = 'Rate limit exceeded. Try again later.';
/** The gateway's own paths; never looked up in the routing table. */
const OWN_PATHS = new Set(['/', '/health', '/ready', '/metrics', '/agents.json', '/.well-known/ai-plugin.json', '/llms.txt', '/llms-full.txt', '/docs']);
/** Not rate limited and not logged per request. */
const PROBES = new Set(['/health', '/ready', '/metrics']);

type Headers = Pick<ServerResponse, 'setHeader' | 'getHeader'>;

function setRateHeaders(res: Headers, limit: number, r: BucketResult): void {
  res.setHeader('RateLimit-Limit', String(limit));
  res.setHeader('RateLimit-Remaining', String(r.remaining));
  res.setHeader('RateLimit-Reset', String(r.allowed ? r.resetS : r.retryAfterS));
  if (!r.allowed) res.setHeader('Retry-After', String(r.retryAfterS));
}

const rateLimited = (r: BucketResult) => new AppError('RATE_LIMITED', RATE_LIMITED, undefined, { 'Retry-After': String(r.retryAfterS) });

/**
 * The public entry: request ids, per-IP and per-key token buckets, credential verification,
 * routing by path family, and forwarding with a signed principal. Bodies are never parsed.
 *
 * A routed request never enters express: it is matched, its credential looked up in memory,
 * both its buckets taken in one Redis round trip, and it is forwarded with node:http (see
 * README "Decisions"). Only a credential not in memory costs more: the per-IP bucket first
 * (so floods of unknown credentials never reach identity), then identity or the JWT check,
 * then the per-key bucket.
 */
export function createGateway(deps: GatewayDeps): Gateway {
  const { config, logger, verifier, rateLimits, proxies } = deps;
  const metrics = deps.metrics ?? createMetrics('gateway');
  const table = deps.routes ?? new RouteTable();
  const tokens = new PrincipalTokenCache(config.INTERNAL_TOKEN_SECRET);
  const ipBucket = { capacity: config.RATE_LIMIT_IP_BURST, perMinute: config.RATE_LIMIT_IP_PER_MIN };
  const clientIp = clientIpResolver(config.TRUST_PROXY);
  const base = config.PUBLIC_BASE_URL;
  // The access line's fields are fixed and hold no secret (the path excludes the query, where ?key= lives): redaction would only cost time.
  const accessLog = logger.child({}, { redact: [] });

  let lastStoreWarning = 0;
  /** Rate limiting fails open: a Redis outage must not take the whole platform down with it. */
  async function take(steps: BucketStep[]): Promise<BucketResult[] | null> {
    try {
      return await rateLimits.takeAll(steps);
    } catch (err) {
      if (Date.now() - lastStoreWarning > 10_000) {
        lastStoreWarning = Date.now();
        logger.warn({ err: String(err), store: rateLimits.kind }, 'rate-limit store unavailable; not limiting');
      }
      return null;
    }
  }

  // One histogram child per (method, route, status): labels() hashes its arguments on every call.
  const durations = new Map<string, ReturnType<typeof metrics.httpDuration.labels>>();
  function observe(method: string, route: string, status: number, seconds: number): void {
    const k = `${method} ${route} ${status}`;
    let child = durations.get(k);
    if (!child) {
      child = metrics.httpDuration.labels(method, route, String(status));
      if (durations.size < 2_000) durations.set(k, child);
    }
    child.observe(seconds);
  }

  // ---- What the gateway answers itself (express) ----
  const documents = express();
  documents.disable('x-powered-by');
  documents.set('etag', false);
  documents.set('trust proxy', config.TRUST_PROXY);

  // Spec 002 "Health Check".
  documents.get('/health', (_req, res) => {
    res.json({ status: 'ok', timestamp: new Date().toISOString().replace('Z', '+00:00') });
  });
  documents.get('/ready', async (_req, res) => {
    const checks = [{ name: 'rate_limit_store', check: () => rateLimits.healthy() }, ...(deps.readiness ?? [])];
    const results = await Promise.all(
      checks.map(async (c) => {
        const ok = await Promise.race([c.check().catch(() => false), sleep(2_000).then(() => false)]);
        return [c.name, ok ? 'ok' : 'unavailable'] as const;
      }),
    );
    const ready = results.every(([, s]) => s === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', service: 'gateway', checks: Object.fromEntries(results) });
  });
  documents.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  // Spec 002: 60 requests per minute per IP with a burst of 120, before any other work.
  documents.use(async (req, res, next) => {
    const r = (await take([{ key: `ip:${clientIp(req)}`, spec: ipBucket }]))?.[0];
    if (r) {
      setRateHeaders(res, ipBucket.capacity, r);
      if (!r.allowed) return next(rateLimited(r));
    }
    next();
  });

  // The gateway's own documents (spec 002 `GET /`, spec 000 machine-readable discovery).
  documents.get('/', (_req, res) => {
    res.json(SERVICE_INFO);
  });
  documents.get('/agents.json', (_req, res) => {
    res.json(agentsJson(base, table.routes, { perMinute: config.RATE_LIMIT_IP_PER_MIN, burst: config.RATE_LIMIT_IP_BURST }));
  });
  documents.get('/.well-known/ai-plugin.json', (_req, res) => {
    res.json(aiPlugin(base));
  });
  documents.get('/llms.txt', (_req, res) => {
    res.type('text/plain; charset=utf-8').send(llmsTxt(base, table.routes));
  });
  documents.get('/llms-full.txt', (_req, res) => {
    res.type('text/plain; charset=utf-8').send(llmsTxt(base, table.routes, true));
  });
  documents.get('/docs', (_req, res) => {
    res.type('text/markdown; charset=utf-8').send(llmsTxt(base, table.routes, true));
  });
  documents.use((req) => {
    throw new AppError('NOT_FOUND', `No route for ${req.method} ${req.path}`);
  });
  const errors: ErrorRequestHandler = (err, req, res, _next) => {
    if (!(err instanceof AppError)) logger.error({ err, request_id: req.requestId }, 'unhandled gateway error');
    sendError(res, familyForPath(req.path), err, req.requestId);
  };
  documents.use(errors);

  // ---- Routed requests: the hot path, plain node:http ----
  async function forward(req: IncomingMessage, res: ServerResponse, route: RouteEntry, requestId: string, clientSentId: boolean): Promise<void> {
    const ip = clientIp(req);
    const source = credentialFrom(req, route.queryCredential);
    const credential = source && 'credential' in source ? source.credential : null;
    // A credential verified before (or a user token checked before) is answered from memory, so both buckets go in one round trip.
    let principal: Principal | null | undefined = credential ? verifier.peek(credential) : null;
    const ipStep: BucketStep = { key: `ip:${ip}`, spec: ipBucket };
    const keyStepOf = (p: Principal | null | undefined): BucketStep | null =>
      p?.rate_limit ? { key: `key:${p.kind}:${p.key_id ?? p.owner_id}`, spec: { capacity: p.rate_limit, perMinute: p.rate_limit } } : null;
    const warmKey = keyStepOf(principal);
    const taken = await take(warmKey ? [ipStep, warmKey] : [ipStep]);

    // Spec 002: 60 requests per minute per IP with a burst of 120, before any other work.
    const ipResult = taken?.[0];
    if (ipResult) {
      setRateHeaders(res, ipBucket.capacity, ipResult);
      if (!ipResult.allowed) throw rateLimited(ipResult);
    }
    if (source && 'malformed' in source) throw new AppError('UNAUTHORIZED', source.malformed);
    let keyResult: BucketResult | null | undefined = taken?.[1];
    let keySpec = warmKey?.spec;
    if (credential && principal === undefined) {
      principal = await verifier.verify(credential);
      if (!principal) throw new AppError('UNAUTHORIZED', 'Invalid or revoked API key');
      const step = keyStepOf(principal);
      if (step) {
        keySpec = step.spec;
        keyResult = (await take([step]))?.[0];
      }
    } else if (!credential && route.auth === 'required') {
      throw new AppError('UNAUTHORIZED', 'Missing or invalid API key');
    }

    // Spec 002: each key also has its own rate_limit per minute; the tighter bucket's headers win.
    if (keyResult && keySpec) {
      if (!keyResult.allowed || keyResult.remaining < Number(res.getHeader('RateLimit-Remaining') ?? Infinity)) setRateHeaders(res, keySpec.capacity, keyResult);
      if (!keyResult.allowed) throw rateLimited(keyResult);
    }

    // Only a well-formed client X-Request-ID was kept as the request id.
    const f = { route, requestId, clientRequestId: clientSentId ? requestId : null, principal: principal ?? null, consumedCredential: !!source, clientIp: ip };
    prepareHeaders(req, f, tokens);
    proxies.forward(route.service, req, res, f);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const start = process.hrtime.bigint();
    const incoming = req.headers['x-request-id'];
    const clientSentId = typeof incoming === 'string' && REQUEST_ID.test(incoming);
    const requestId = clientSentId ? (incoming as string) : randomUUID();
    res.setHeader('X-Request-ID', requestId);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const route = OWN_PATHS.has(path) ? null : table.match(path);
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const status = res.statusCode;
      observe(req.method ?? 'GET', route?.pattern ?? (OWN_PATHS.has(path) ? path : 'unmatched'), status, seconds);
      if (!PROBES.has(path)) {
        // `upstream`, not `service`: every line already carries service=gateway.
        accessLog.info({ request_id: requestId, method: req.method, path, status, upstream: route?.service, ms: Math.round(seconds * 1e4) / 10 }, 'request');
      }
    });
    if (!route) {
      (req as express.Request).requestId = requestId;
      documents(req as express.Request, res as Response);
      return;
    }
    forward(req, res, route, requestId, clientSentId).catch((err) => {
      if (!(err instanceof AppError)) logger.error({ err, request_id: requestId }, 'unhandled gateway error');
      sendError(res, route.family, err, requestId);
    });
  }

  return { handle, documents };
}

/** An error in the route family's shape; AppError codes map to their status, anything else is a 500. */
function sendError(res: ServerResponse, family: ErrorFamily, err: unknown, requestId: string | undefined): void {
  if (res.headersSent) return void res.destroy();
  let code: ErrorCode = 'INTERNAL';
  let message = 'Internal server error';
  if (err instanceof AppError) {
    code = err.code;
    message = err.message;
    if (err.headers) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  }
  const body = JSON.stringify(errorBody(family, code, message, requestId));
  res.statusCode = new AppError(code, message).status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

export function upstreamsOf(config: GatewayConfig): Record<ServiceName, string[]> {
  const byName: Record<ServiceName, string[]> = {
    identity: config.IDENTITY_URL,
    wallets: config.WALLETS_URL,
    marketplace: config.MARKETPLACE_URL,
    metering: config.METERING_URL,
    reputation: config.REPUTATION_URL,
    settlements: config.SETTLEMENTS_URL,
    runtime: config.RUNTIME_URL,
    webhooks: config.WEBHOOKS_URL,
  };
  for (const s of SERVICE_NAMES) if (!byName[s]?.length) throw new Error(`no upstream configured for ${s}`);
  return byName;
}

export interface StartGatewayOptions {
  /** Standalone mode's shared bus; the gateway subscribes to it and never closes it. */
  inProcessBus?: InProcessBus;
  logger?: Logger;
  rateLimits?: RateLimitStore;
  identity?: IdentityClient;
  routes?: readonly RouteEntry[];
}

export interface RunningGateway extends RunningServer {
  /** The request listener and the express app of the gateway's own documents. */
  gateway: Gateway;
  verifier: CredentialVerifier;
  rateLimits: RateLimitStore;
  bus: EventBus | null;
  /** The consumer group this replica reads `key.revoked` with. */
  group: string;
}

let instances = 0;

/** Builds and starts a gateway; fleet main.ts and standalone mode both come through here. */
export async function startGateway(config: GatewayConfig, opts: StartGatewayOptions = {}): Promise<RunningGateway> {
  const logger = opts.logger ?? createLogger('gateway', config.LOG_LEVEL);
  const identity = opts.identity ?? httpIdentityClient({ urls: config.IDENTITY_URL, secret: config.INTERNAL_TOKEN_SECRET, timeoutMs: config.VERIFY_TIMEOUT_MS });
  const jwt = identity.jwks
    ? new JwtVerifier(() => identity.jwks!(), {
        issuer: config.JWT_ISSUER,
        audience: config.JWT_AUDIENCE,
        maxAgeS: config.JWKS_MAX_AGE_S,
        minRefreshS: config.JWKS_MIN_REFRESH_S,
        onRefreshError: (err) => logger.warn({ err: String(err) }, 'cannot refresh identity JWKS; keeping the keys we have'),
      })
    : undefined;
  const verifier = new CredentialVerifier(identity, { ttlS: config.AUTH_CACHE_TTL_S, jwt });
  const rateLimits = opts.rateLimits ?? createRateLimitStore({ redisUrl: config.REDIS_URL, prefix: config.REDIS_KEY_PREFIX });
  const proxies = createServiceProxies({ upstreams: upstreamsOf(config), timeoutMs: config.PROXY_TIMEOUT_MS, logger });

  const bus = config.KAFKA_BROKERS.length || opts.inProcessBus ? createBus({ brokers: config.KAFKA_BROKERS, clientId: 'gateway', log: logger, inProcess: opts.inProcessBus }) : null;
  const ownsBus = !!bus && bus !== opts.inProcessBus;
  // Every replica must see every revocation, so each has its own consumer group.
  const n = instances++;
  const group = `gateway.${os.hostname()}.${process.pid}${n ? `.${n}` : ''}`;
  let stopped = false;
  const subscribing = bus
    ? (async () => {
        for (let attempt = 0; !stopped; attempt++) {
          try {
            await bus.subscribe({
              group,
              types: ['key.revoked'],
              handler: async (e) => {
                if (e.type === 'key.revoked') verifier.invalidateKey(e.data.key_id);
              },
            });
            return;
          } catch (err) {
            logger.warn({ err: String(err) }, 'cannot subscribe to key.revoked yet; retrying');
            await sleep(Math.min(5_000, 250 * 2 ** attempt));
          }
        }
      })()
    : Promise.resolve();
  if (!bus) logger.warn('no event bus configured: revoked keys stay valid at the gateway for up to AUTH_CACHE_TTL_S');
  if (bus?.kind === 'in-process') await subscribing;

  const gateway = createGateway({
    config,
    logger,
    verifier,
    rateLimits,
    proxies,
    routes: opts.routes ? new RouteTable(opts.routes) : undefined,
    readiness: bus ? [{ name: 'bus', check: () => bus.healthy() }] : [],
  });
  const server = await listen(gateway.handle, {
    port: config.PORT,
    host: config.HOST,
    logger,
    onStop: async () => {
      stopped = true;
      if (ownsBus) await bus!.close();
      await Promise.race([subscribing, sleep(1_000)]);
      await rateLimits.close();
      proxies.close();
    },
  });
  logger.info({ url: server.url, bus: bus?.kind ?? 'none', rate_limits: rateLimits.kind }, 'gateway listening');
  return { ...server, gateway, verifier, rateLimits, bus, group };
}
