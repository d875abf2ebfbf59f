import { Router, Request, Response } from 'express';
import type { OutgoingHttpHeaders } from 'node:http';
import { AppError, errorFamily, principalOf, requireAuth } from '@platform/http';
import { formatDollars4 } from '@platform/money';
import type { WalletsClient } from '../clients/wallets.client';
import type { Charge, Metering, PaymentMethod } from '../domain/metering.service';
import type { UpstreamPayments } from '../domain/upstream-payment';
import type { UsageRow } from '../db/usage.repository';
import type { Forwarder } from '../upstream/forwarder';
import { forwardableRequestHeaders } from '../upstream/headers';
import { parseProxyUrl, upstreamPath } from '../upstream/target';
import { agentOf, billingHeaders, idempotencyKeyOf, paymentHeadersOf, runBufferedCall } from './paid-call';

export const SERVICES_PREFIX = '/services';
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const MAX_REQUEST_BYTES = 1024 * 1024;

/** The request body as sent, up to 1 MB: kept whole so an x402 challenge can be answered by sending it again. */
function readBody(req: Request): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(new AppError('PAYLOAD_TOO_LARGE', 'Request body is too large (at most 1 MB)'));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => reject(new AppError('BAD_REQUEST', 'The request body was aborted')));
  });
}

/** Spec 001 "Using a Session": `_indiegent` with payment, session_id, session_remaining and cost. */
function billing(meta: { method: string; sessionId: string | null; sessionRemaining: bigint | null; cost: bigint }) {
  return {
    payment: meta.method,
    session_id: meta.sessionId,
    session_remaining: meta.sessionRemaining === null ? null : formatDollars4(meta.sessionRemaining),
    cost: formatDollars4(meta.cost),
  };
}

/**
 * The provider's answer with `_indiegent` added: merged into a JSON object body (the spec's
 * `{ ..., "_indiegent": {...} }`); any other body goes back unchanged, billing in headers only.
 */
function answer(res: Response, r: { statusCode: number; headers: OutgoingHttpHeaders; body: Buffer }, extraHeaders: Record<string, string>, indiegent: ReturnType<typeof billing>): void {
  let json: unknown = undefined;
  if (/json/i.test(String(r.headers['content-type'] ?? ''))) {
    try {
      json = JSON.parse(r.body.toString('utf8'));
    } catch {
      json = undefined;
    }
  }
  const headers: OutgoingHttpHeaders = { ...r.headers, ...extraHeaders };
  delete headers['content-length'];
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
    const body = Buffer.from(JSON.stringify({ ...(json as object), _indiegent: indiegent }));
    delete headers['content-encoding'];
    res.writeHead(r.statusCode, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) });
    return void res.end(body);
  }
  res.writeHead(r.statusCode, { ...headers, 'content-length': String(r.body.length) });
  res.end(r.body);
}

/**
 * `POST /services/{slug}/{path}` (spec 001 "Using a Session"): a registered service called by
 * its slug for an agent wallet (X-Agent-Wallet). With X-Session-Id the price is debited from
 * the session; without it, from the caller's prepaid balance. An x402 challenge from the
 * provider is paid from the agent's wallet instead (and the charge given back).
 */
export function servicesRouter(deps: {
  metering: Metering;
  wallets: WalletsClient;
  forwarder: Forwarder;
  payments: UpstreamPayments;
  upstreamTimeoutMs: number;
  maxResponseBytes: number;
}): Router {
  const { metering } = deps;
  const r = Router();

  r.use(SERVICES_PREFIX, errorFamily('error'), requireAuth, async (req, res) => {
    if (!METHODS.has(req.method)) {
      throw new AppError('METHOD_NOT_ALLOWED', `Services are called with GET, POST, PUT, PATCH or DELETE, not ${req.method}`, undefined, { Allow: 'GET, POST, PUT, PATCH, DELETE' });
    }
    const principal = principalOf(req);
    const target = parseProxyUrl(req.url);
    const { agent, sessionId } = paymentHeadersOf(req);
    if (!agent) throw new AppError('BAD_REQUEST', 'X-Agent-Wallet header is required: the agent wallet (id or name) that pays for the call');
    const service = await metering.lookupSlug(target.serviceId);
    const vetted = await deps.forwarder.vet(service.endpoint);
    const { agentId, verdict } = await agentOf(deps.wallets, principal, { agent, service, sessionId, requestId: req.requestId });
    const body = await readBody(req);
    const idempotencyKey = idempotencyKeyOf(req);

    const started = await metering.begin(service, {
      buyerId: principal.owner_id,
      orgId: principal.org_id,
      method: req.method,
      path: `/${target.path ?? ''}`.slice(0, 2000),
      idempotencyKey,
      requestId: req.requestId,
      channel: 'service',
      sessionId,
      agentId,
    });
    if (started.kind === 'replay') return replay(res, started.record);
    const charge: Charge = started.charge;

    const result = await runBufferedCall(
      { metering, forwarder: deps.forwarder, payments: deps.payments, maxBytes: deps.maxResponseBytes, timeoutMs: deps.upstreamTimeoutMs },
      charge,
      {
        target: vetted,
        method: req.method,
        path: upstreamPath(vetted.url, target.path, target.query),
        // The answer is read (and JSON merged), so ask for it unencoded.
        headers: { ...forwardableRequestHeaders(req.headers), 'accept-encoding': 'identity' },
        body,
        maxCostMicros: null,
        perCallMaxMicros: verdict?.perCallMaxMicros ?? charge.perCallMaxMicros ?? null,
        keepForReplay: idempotencyKey !== null,
      },
    );
    const sessionRemaining = charge.chargeMethod === 'session' ? charge.sessionRemainingMicros : (verdict?.session?.remainingMicros ?? null);
    answer(
      res,
      result,
      billingHeaders(charge.usageId, result.amountMicros, result.freeTier, result.latencyMs),
      billing({ method: result.paymentMethod, sessionId, sessionRemaining, cost: result.amountMicros }),
    );
  });
  return r;
}

function replay(res: Response, r: UsageRow): void {
  if (r.status === 'failed') throw new AppError(r.statusCode === 504 ? 'GATEWAY_TIMEOUT' : 'BAD_GATEWAY', r.statusCode === 504 ? 'Provider timeout' : 'Provider unreachable');
  answer(
    res,
    { statusCode: r.statusCode!, headers: (r.responseHeaders ?? {}) as OutgoingHttpHeaders, body: Buffer.from(r.responseBody!) },
    { ...billingHeaders(r.id, r.amountMicros, r.paymentMethod === 'free_tier', r.latencyMs ?? 0), 'X-ACF-Replayed': 'true' },
    billing({ method: r.paymentMethod as PaymentMethod, sessionId: r.sessionId, sessionRemaining: r.sessionRemainingMicros, cost: r.amountMicros }),
  );
}
