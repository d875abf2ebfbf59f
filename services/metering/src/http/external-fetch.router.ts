import express, { Router, Response } from 'express';
import type { OutgoingHttpHeaders } from 'node:http';
import { AppError, errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import { formatDollars4 } from '@platform/money';
import { INTERNAL_HEADERS } from '@platform/auth';
import type { WalletsClient } from '../clients/wallets.client';
import type { Metering, PaymentMethod } from '../domain/metering.service';
import type { UpstreamPayments } from '../domain/upstream-payment';
import type { UsageRow } from '../db/usage.repository';
import type { Forwarder } from '../upstream/forwarder';
import { ExternalFetchBody } from './external-fetch.schemas';
import { agentOf, billingHeaders, bodyForJson, idempotencyKeyOf, paymentHeadersOf, runBufferedCall } from './paid-call';

export const EXTERNAL_PREFIX = '/external';

/** Headers the caller may not set on the external request: the connection's own, and the platform's. */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'expect', 'accept-encoding', ...INTERNAL_HEADERS]);

/** The request body for the external API: JSON for objects, as is for strings (spec 001 `body`). */
function encodeBody(body: unknown, headers: Record<string, string>): { body: Buffer; contentType: string | null } {
  if (body === undefined || body === null) return { body: Buffer.alloc(0), contentType: null };
  if (typeof body === 'string') return { body: Buffer.from(body, 'utf8'), contentType: 'text/plain; charset=utf-8' };
  const has = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
  return { body: Buffer.from(JSON.stringify(body), 'utf8'), contentType: has ? null : 'application/json' };
}

/** Spec 001's wrapper: the upstream's status, headers and body, and what the call cost. */
function wrapper(r: { statusCode: number; headers: OutgoingHttpHeaders; body: Buffer }, meta: { cost: bigint; method: string; sessionRemaining: bigint | null; service: string; agent: string }) {
  return {
    status: r.statusCode,
    headers: r.headers,
    body: bodyForJson(r.headers, r.body),
    _indiegent: {
      cost: formatDollars4(meta.cost),
      payment_method: meta.method,
      session_remaining: meta.sessionRemaining === null ? null : formatDollars4(meta.sessionRemaining),
      service: meta.service,
      agent: meta.agent,
    },
  };
}

/**
 * POST /external/fetch (spec 001 "External Fetch"): calls any URL for an agent wallet and pays
 * for it. The price is a registered service's when its endpoint covers the URL (from the
 * session with X-Session-Id, else the prepaid balance), otherwise nothing; an x402 challenge
 * from the URL is paid from the agent's wallet. Policy, max_cost and the target address are
 * checked before anything is recorded or charged.
 */
export function externalFetchRouter(deps: {
  metering: Metering;
  wallets: WalletsClient;
  forwarder: Forwarder;
  payments: UpstreamPayments;
  upstreamTimeoutMs: number;
  maxResponseBytes: number;
}): Router {
  const { metering } = deps;
  const r = Router();
  r.use(EXTERNAL_PREFIX, errorFamily('error'), express.json({ limit: '1mb' }));

  r.post(`${EXTERNAL_PREFIX}/fetch`, requireAuth, validate({ body: ExternalFetchBody }), async (req, res: Response) => {
    const principal = principalOf(req);
    const b = req.body as ExternalFetchBody;
    const { agent, sessionId } = paymentHeadersOf(req);
    if (!agent) throw new AppError('BAD_REQUEST', 'X-Agent-Wallet header is required: the agent wallet (id or name) that pays for the call');
    let url: URL;
    try {
      url = new URL(b.url);
    } catch {
      throw new AppError('BAD_REQUEST', `url "${b.url.slice(0, 200)}" is not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('BAD_REQUEST', 'url must use http or https');
    if (b.method === 'GET' && b.body !== undefined && b.body !== null) throw new AppError('BAD_REQUEST', 'body is sent with POST, PUT, PATCH or DELETE, not GET');
    const target = await deps.forwarder.vet(url.origin);
    const service = await metering.priceUrl(url);
    const maxCost = b.max_cost ?? null;
    if (maxCost !== null && service.priceMicros > maxCost) {
      throw new AppError('UNPROCESSABLE', `Cost exceeds max_cost: ${service.name} charges ${formatDollars4(service.priceMicros)} per call, more than max_cost (${formatDollars4(maxCost)})`, { reason: 'max_cost' });
    }
    const { agentId, verdict } = await agentOf(deps.wallets, principal, { agent, service, sessionId, requestId: req.requestId });
    const idempotencyKey = idempotencyKeyOf(req);
    const path = `${url.pathname}${url.search}`;

    const started = await metering.begin(service, {
      buyerId: principal.owner_id,
      orgId: principal.org_id,
      method: b.method,
      path: url.href.slice(0, 2000),
      idempotencyKey,
      requestId: req.requestId,
      channel: 'external',
      sessionId,
      agentId,
    });
    const meta = { service: service.policyName, agent };
    if (started.kind === 'replay') return replay(res, started.record, meta);

    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(b.headers)) if (!NOT_FORWARDED.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
    // The answer goes back inside JSON, so it is asked for unencoded.
    headers['accept-encoding'] = 'identity';
    const encoded = encodeBody(b.body, b.headers);
    if (encoded.contentType) headers['content-type'] = encoded.contentType;

    const result = await runBufferedCall(
      { metering, forwarder: deps.forwarder, payments: deps.payments, maxBytes: deps.maxResponseBytes, timeoutMs: deps.upstreamTimeoutMs },
      started.charge,
      { target, method: b.method, path, headers, body: encoded.body, maxCostMicros: maxCost, perCallMaxMicros: verdict?.perCallMaxMicros ?? started.charge.perCallMaxMicros ?? null, keepForReplay: idempotencyKey !== null },
    );
    const charge = started.charge;
    const sessionRemaining = charge.chargeMethod === 'session' ? charge.sessionRemainingMicros : (verdict?.session?.remainingMicros ?? null);
    res.set(billingHeaders(charge.usageId, result.amountMicros, result.freeTier, result.latencyMs));
    res.json(wrapper(result, { ...meta, cost: result.amountMicros, method: result.paymentMethod, sessionRemaining }));
  });
  return r;
}

function replay(res: Response, r: UsageRow, meta: { service: string; agent: string }): void {
  if (r.status === 'failed') throw new AppError(r.statusCode === 504 ? 'GATEWAY_TIMEOUT' : 'BAD_GATEWAY', r.statusCode === 504 ? 'Provider timeout' : 'Provider unreachable');
  res.set({ ...billingHeaders(r.id, r.amountMicros, r.freeTier && r.paymentMethod === 'free_tier', r.latencyMs ?? 0), 'X-ACF-Replayed': 'true' });
  res.json(
    wrapper(
      { statusCode: r.statusCode!, headers: (r.responseHeaders ?? {}) as OutgoingHttpHeaders, body: Buffer.from(r.responseBody!) },
      { ...meta, cost: r.amountMicros, method: r.paymentMethod as PaymentMethod, sessionRemaining: r.sessionRemainingMicros },
    ),
  );
}
