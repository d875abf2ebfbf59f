import { randomUUID } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { AppError, ErrorCode } from '@platform/http';
import type { Logger } from '@platform/telemetry';
import type { ServicePricesRepository, ServicePriceRow } from '../db/service-prices.repository';
import { isUniqueViolation, UsageRepository, UsageRow, UsageSummary } from '../db/usage.repository';
import { createEnvelope } from '@platform/events';
import { serviceCalledData, type MeteringPublishers } from '../events/publishers';
import type { FinalCall, UsageWriter } from '../db/usage-writer';
import type { LeaseBook } from './leases';
import { WalletsClient, WalletsUnavailable } from '../clients/wallets.client';
import type { AuthorizationLedger, X402PaymentStore } from './x402.service';
import { externalServiceName, matchEndpoint } from './service-names';
import type { StageClock } from '../support/stage-clock';

/** Largest provider response kept for idempotent replays. */
export const REPLAY_MAX_BYTES = 256 * 1024;

/** proxy: spec 002 `/api/v1/proxy`; external: spec 001 `POST /external/fetch`; service: spec 001 `/services/{slug}`. */
export type Channel = 'proxy' | 'external' | 'service';
/** What is charged before forwarding, and refunded when the call is not served. */
export type ChargeMethod = 'balance' | 'session' | 'free_tier' | 'none';
/** How a call was paid in the end: an upstream's x402 challenge paid from the agent wallet replaces the charge. */
export type PaymentMethod = ChargeMethod | 'x402';

/** A service a call goes to: a registered one (read model), or an external URL no registered service covers. */
export interface PricedService {
  serviceId: string;
  providerId: string;
  name: string;
  /** The name policies and session debits know it by: the slug, or the external URL's host name. */
  policyName: string;
  endpoint: string;
  /** Micro-USDC per call. */
  priceMicros: bigint;
  freeTierCalls: number;
  category: string;
  registered: boolean;
}

export interface CallInput {
  buyerId: string;
  /** The caller's organization: a session belongs to org_id ?? owner_id (wallets checks). */
  orgId: string | null;
  method: string;
  /** The buyer's path below the service (or the external URL), for the record and for matching replays. */
  path: string;
  idempotencyKey: string | null;
  requestId: string;
  channel: Channel;
  /** X-Session-Id: the price comes from this payment session instead of the prepaid balance. */
  sessionId: string | null;
  /** The agent wallet (resolved X-Agent-Wallet) the call is made for; it pays upstream x402 challenges. */
  agentId: string | null;
  /** Times the record and the debit separately (Server-Timing). */
  clock?: StageClock;
}

/** A call that may go to the provider: its usage record exists and its price is paid. */
export interface Charge {
  usageId: string;
  buyerId: string;
  service: PricedService;
  amountMicros: bigint;
  freeTier: boolean;
  chargeMethod: ChargeMethod;
  /** Whether wallets may hold a debit (balance or session) for this call, i.e. whether not serving it must refund it. */
  debited: boolean;
  sessionId: string | null;
  sessionRemainingMicros: bigint | null;
  agentId: string | null;
  channel: Channel;
  /** A retry taking over an `unsettled` call: its x402 payment was sent before and may have settled. */
  resumed: boolean;
  /** The request's method and path below the service (a leased call's record is written only at the end). */
  method?: string;
  path?: string;
  /**
   * The balance lease the price was taken from (README "Balance leases"): then no record exists
   * until the call ends, nothing was debited in wallets, and not serving it gives the price back
   * to the lease.
   */
  leaseId?: string | null;
  /** The agent's per-call maximum as wallets' session debit reported it (when no authorize ran first). */
  perCallMaxMicros?: bigint | null;
}

export type Started = { kind: 'replay'; record: UsageRow } | { kind: 'charged'; charge: Charge };

export interface Outcome {
  statusCode: number;
  latencyMs: number;
}

/** How a served call is billed: its price, nothing (an upstream 402 nobody paid), or an x402 payment instead. */
export type Billing = { kind: 'price' } | { kind: 'waived' } | { kind: 'x402'; costMicros: bigint };

const debitedBy = (m: string) => m === 'balance' || m === 'session';

/** Wallets' refusal status → the error code answered (same status, the route family's shape). */
const REFUSAL_CODE: Record<number, ErrorCode> = { 402: 'PAYMENT_REQUIRED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT' };

export const priced = (s: ServicePriceRow): PricedService => ({
  serviceId: s.serviceId,
  providerId: s.providerId,
  name: s.name,
  policyName: s.slug || s.serviceId,
  endpoint: s.endpoint,
  priceMicros: s.priceMicros,
  freeTierCalls: s.freeTierCalls,
  category: s.category,
  registered: true,
});

/**
 * The metering rules (spec 002 "Payment Proxy", steps 2-6, and spec 001's session-paid and
 * external calls): price lookup, free tier, charge (prepaid balance or payment session),
 * usage record and the service.called event. Forwarding itself is the HTTP layer's job.
 *
 * Invariants: the usage record is written before any debit, so a crash leaves a trace the
 * sweeper can refund; every debit of a call that was not served is refunded; each forwarded
 * call commits its record and its one event together; a call whose x402 payment was sent but
 * not answered stays `unsettled` (never refunded, never paid again) until a retry with its key
 * or the sweeper settles it.
 */
export function createMetering(deps: {
  prices: ServicePricesRepository;
  usage: UsageRepository;
  wallets: WalletsClient;
  events: MeteringPublishers;
  /**
   * The hot path's batched writes (a pending record, a completion with its event, each one
   * statement per batch). Without it every call uses its own transactions.
   */
  writer?: UsageWriter;
  /** How long a service's price and status are reused from memory before the read model is asked again. */
  priceCacheMs?: number;
  logger: Logger;
  /** After this long a pending record belongs to a call that died with its process. */
  staleAfterMs: number;
  /** x402 payments by usage id: a stale call whose payment was sent becomes `unsettled`, not abandoned. */
  payments?: Pick<X402PaymentStore, 'find' | 'finish'>;
  /** USDC authorizationState; without it `unsettled` calls wait for reconciliation. */
  authorizations?: AuthorizationLedger;
  /**
   * Balance leases (needs the writer's plain pool): calls on the prepaid balance without an
   * idempotency key, agent wallet, session or free tier spend a lease instead of a wallets debit.
   */
  leases?: LeaseBook;
  now?: () => number;
}) {
  const { prices, usage, wallets, events, logger } = deps;
  const now = deps.now ?? Date.now;

  /**
   * The read model's row, reused for priceCacheMs: a price, pause or removal reaches every call
   * within that (this process's catalogue consumer also forgets the row as soon as it applies one).
   */
  const priceCache = new Map<string, { row: ServicePriceRow | null; until: number }>();
  /** Reads in flight: the calls that miss together share one query (no stampede when an entry expires under load). */
  const priceReads = new Map<string, Promise<ServicePriceRow | null>>();
  const PRICE_CACHE_MAX = 10_000;
  async function findPrice(serviceId: string): Promise<ServicePriceRow | null> {
    const ttl = deps.priceCacheMs ?? 0;
    if (ttl <= 0) return prices.find(serviceId);
    const hit = priceCache.get(serviceId);
    if (hit && hit.until > Date.now()) return hit.row;
    let reading = priceReads.get(serviceId);
    if (!reading) {
      const t = Date.now();
      reading = prices.find(serviceId).then(
        (row) => {
          // Forgotten meanwhile (forgetPrice deletes the read too): answered, not cached.
          if (priceReads.get(serviceId) === reading) {
            if (priceCache.size >= PRICE_CACHE_MAX) priceCache.clear();
            priceCache.set(serviceId, { row, until: t + ttl });
            priceReads.delete(serviceId);
          }
          return row;
        },
        (err: unknown) => {
          if (priceReads.get(serviceId) === reading) priceReads.delete(serviceId);
          throw err;
        },
      );
      priceReads.set(serviceId, reading);
    }
    return reading;
  }

  function replayable(prior: UsageRow, serviceId: string, input: CallInput): void {
    if (prior.serviceId !== serviceId || prior.method !== input.method || prior.path !== input.path) {
      throw new AppError('CONFLICT', 'This idempotency key was already used for a different request; use a new key');
    }
  }

  function replayOf(prior: UsageRow, serviceId: string, input: CallInput): Started {
    replayable(prior, serviceId, input);
    if (prior.status === 'pending' || prior.status === 'unsettled') throw new AppError('CONFLICT', 'A request with this idempotency key is still in progress; retry shortly');
    if (prior.responseBody === null || prior.statusCode === null) {
      throw new AppError(
        'CONFLICT',
        `A call with this idempotency key was already made and billed (usage ${prior.id}); its response cannot be replayed because it was larger than 256 KB or is still streaming`,
      );
    }
    return { kind: 'replay', record: prior };
  }

  /** A retry of a call left unsettled: the same usage id, its charge still held, its x402 payment resent as it was. */
  async function resume(prior: UsageRow, service: PricedService, input: CallInput): Promise<Started> {
    replayable(prior, service.serviceId, input);
    if (!(await usage.claimUnsettled(prior.id))) return replayOf((await usage.findById(prior.id)) ?? prior, service.serviceId, input);
    return {
      kind: 'charged',
      charge: {
        usageId: prior.id,
        buyerId: prior.buyerId,
        service,
        amountMicros: prior.amountMicros,
        freeTier: prior.freeTier,
        chargeMethod: prior.chargeMethod as ChargeMethod,
        debited: debitedBy(prior.chargeMethod),
        sessionId: prior.sessionId,
        sessionRemainingMicros: prior.sessionRemainingMicros,
        agentId: prior.agentId,
        channel: prior.channel as Channel,
        resumed: true,
      },
    };
  }

  async function refundNow(r: { usageId: string; chargeMethod: string; sessionId: string | null }): Promise<void> {
    try {
      if (r.chargeMethod === 'session') await wallets.sessionRefund(r.sessionId!, r.usageId);
      else await wallets.refund(r.usageId);
      await usage.markRefunded(r.usageId);
    } catch (err) {
      logger.warn({ err: String(err), usage_id: r.usageId }, 'refund not taken yet; the sweeper retries it');
    }
  }

  type Closable = { usageId: string; buyerId: string; serviceId: string; freeTier: boolean; chargeMethod: string; sessionId: string | null };

  /** Closes a call that was not served (abandoned, or refused after forwarding): nothing billed, no event, the key is freed. */
  async function close(c: Closable, status: 'abandoned' | 'refused', from: 'pending' | 'unsettled' = 'pending'): Promise<void> {
    const debited = debitedBy(c.chargeMethod);
    try {
      await usage.transaction(async (tx) => {
        const data = { status, amountMicros: 0n, idempotencyKey: null, refund: debited ? 'pending' : 'none', completedAt: new Date() };
        const settled = from === 'pending' ? await usage.settle(c.usageId, data, tx) : await usage.settleUnsettled(c.usageId, data, tx);
        if (settled && c.freeTier) await usage.releaseFreeCall(tx, c.buyerId, c.serviceId);
      });
    } catch (err) {
      logger.error({ err: String(err), usage_id: c.usageId }, `cannot mark usage ${status}; the sweeper will`);
    }
    if (debited) await refundNow(c);
  }

  const closable = (c: Charge): Closable => ({ ...c, serviceId: c.service.serviceId });

  /** A leased call's one write: its whole record (and event) as it ended. */
  function leasedRow(c: Charge, f: Pick<FinalCall, 'status' | 'statusCode' | 'latencyMs' | 'amountMicros' | 'paymentMethod' | 'responseHeaders' | 'responseBody' | 'event'>): FinalCall {
    return {
      usageId: c.usageId,
      buyerId: c.buyerId,
      serviceId: c.service.serviceId,
      providerId: c.service.providerId,
      method: c.method ?? 'GET',
      path: c.path ?? '/',
      channel: c.channel,
      leaseId: c.leaseId!,
      leaseCharge: f.amountMicros > 0n ? 'pending' : 'none',
      ...f,
    };
  }

  /** A leased call that was not served: its price goes back to the lease, its record says why, nothing is owed. */
  async function closeLeased(c: Charge, status: 'abandoned' | 'refused'): Promise<void> {
    await deps.leases!.giveBack(c.buyerId, c.leaseId!, c.amountMicros);
    try {
      await deps.writer!.insertFinal(leasedRow(c, { status, statusCode: null, latencyMs: null, amountMicros: 0n, paymentMethod: 'balance', responseHeaders: null, responseBody: null, event: null }));
    } catch (err) {
      logger.error({ err: String(err), usage_id: c.usageId }, `cannot record a leased call ${status}; nothing was charged for it`);
    }
  }

  /** The record and its event in one transaction; a price given up (x402 instead, or waived) is refunded after. */
  async function finishServed(
    c: Pick<Charge, 'usageId' | 'buyerId' | 'amountMicros' | 'freeTier' | 'chargeMethod' | 'sessionId' | 'sessionRemainingMicros'> & { service: CalledService },
    o: Outcome & { headers?: OutgoingHttpHeaders },
    billing: Billing,
    from: 'pending' | 'unsettled' = 'pending',
  ): Promise<void> {
    const replaced = billing.kind !== 'price';
    const amountMicros = billing.kind === 'x402' ? billing.costMicros : billing.kind === 'waived' ? 0n : c.amountMicros;
    const paymentMethod: PaymentMethod = billing.kind === 'x402' ? 'x402' : billing.kind === 'waived' ? 'none' : (c.chargeMethod as ChargeMethod);
    const refund = replaced && debitedBy(c.chargeMethod);
    if ('leaseId' in c && c.leaseId) {
      const lc = c as Charge;
      // An upstream 402 nobody paid costs nothing: the price goes back to the lease.
      if (amountMicros !== lc.amountMicros) await deps.leases!.giveBack(lc.buyerId, lc.leaseId!, lc.amountMicros - amountMicros);
      const facts = { usageId: c.usageId, buyerId: c.buyerId, service: c.service, amountMicros, freeTier: false, paymentMethod, statusCode: o.statusCode, latencyMs: o.latencyMs };
      const written = await deps.writer!.insertFinal(
        leasedRow(lc, {
          status: 'completed',
          statusCode: o.statusCode,
          latencyMs: o.latencyMs,
          amountMicros,
          paymentMethod,
          responseHeaders: (o.headers ?? {}) as object,
          responseBody: null,
          event: createEnvelope('metering', 'service.called', c.service.serviceId, serviceCalledData(facts)),
        }),
      );
      if (!written) {
        await deps.leases!.forget(lc.buyerId, lc.leaseId!);
        throw new Error(`usage ${c.usageId}: its lease ${lc.leaseId} is not open (closed before the call ended, or unknown here)`);
      }
      if (amountMicros > 0n) deps.leases!.kick();
      return;
    }
    if (deps.writer && !replaced && from === 'pending') {
      const facts = { usageId: c.usageId, buyerId: c.buyerId, service: c.service, amountMicros, freeTier: c.freeTier, paymentMethod, statusCode: o.statusCode, latencyMs: o.latencyMs };
      const settled = await deps.writer.complete({
        usageId: c.usageId,
        statusCode: o.statusCode,
        latencyMs: o.latencyMs,
        amountMicros,
        paymentMethod,
        sessionRemainingMicros: c.sessionRemainingMicros,
        responseHeaders: (o.headers ?? {}) as object,
        event: createEnvelope('metering', 'service.called', c.service.serviceId, serviceCalledData(facts)),
      });
      if (!settled) throw new Error(`usage ${c.usageId} is no longer ${from}`);
      return;
    }
    await usage.transaction(async (tx) => {
      const data = {
        status: 'completed',
        statusCode: o.statusCode,
        latencyMs: o.latencyMs,
        amountMicros,
        paymentMethod,
        sessionRemainingMicros: c.sessionRemainingMicros,
        ...(o.headers ? { responseHeaders: o.headers as object } : {}),
        ...(refund ? { refund: 'pending' } : {}),
        completedAt: new Date(),
      };
      const settled = from === 'pending' ? await usage.settle(c.usageId, data, tx) : await usage.settleUnsettled(c.usageId, data, tx);
      if (!settled) throw new Error(`usage ${c.usageId} is no longer ${from}`);
      // A free call paid another way (or not served) does not use up the buyer's free tier.
      if (replaced && c.freeTier) await usage.releaseFreeCall(tx, c.buyerId, c.service.serviceId);
      await events.serviceCalled(tx, {
        usageId: c.usageId,
        buyerId: c.buyerId,
        service: c.service,
        amountMicros,
        freeTier: c.freeTier && !replaced,
        paymentMethod,
        statusCode: o.statusCode,
        latencyMs: o.latencyMs,
      });
    });
    if (refund) await refundNow(c);
  }

  type CalledService = { serviceId: string; providerId: string; category: string };

  return {
    /** Forgets a cached price (the catalogue consumer applied a newer fact). */
    forgetPrice(serviceId: string): void {
      priceCache.delete(serviceId);
      priceReads.delete(serviceId);
    },

    /** The service as the read model knows it; removed services are gone, paused ones are refused. */
    async lookup(serviceId: string): Promise<PricedService> {
      const s = await findPrice(serviceId);
      if (!s || s.status === 'removed') throw new AppError('NOT_FOUND', 'Service not found');
      if (s.status !== 'active') throw new AppError('CONFLICT', `Service is ${s.status} by its provider and does not accept calls now`);
      return priced(s);
    },

    /** Spec 001 `/services/{slug}`: the service by slug (its name lower-cased, "-" for the rest) or by id. */
    async lookupSlug(slugOrId: string): Promise<PricedService> {
      const byId = /^[0-9a-f-]{36}$/i.test(slugOrId) ? await prices.find(slugOrId.toLowerCase()) : null;
      const found = byId && byId.status !== 'removed' ? [byId] : await prices.bySlug(slugOrId.toLowerCase());
      if (!found.length) throw new AppError('NOT_FOUND', `Service "${slugOrId}" not found`);
      if (found.length > 1) throw new AppError('CONFLICT', `Several services answer to "${slugOrId}"; call it by its service id`);
      const s = found[0];
      if (s.status !== 'active') throw new AppError('CONFLICT', `Service is ${s.status} by its provider and does not accept calls now`);
      return priced(s);
    },

    /**
     * What an external URL costs (spec 001 external fetch): a registered service whose endpoint
     * covers the URL costs its price per call; any other URL is a free pass-through, named by
     * its host, whose only possible cost is an x402 challenge it answers with.
     */
    async priceUrl(url: URL): Promise<PricedService> {
      const s = matchEndpoint(url, await prices.byHost(url.host.toLowerCase()));
      if (s) {
        if (s.status !== 'active') throw new AppError('CONFLICT', `Service ${s.name} is ${s.status} by its provider and does not accept calls now`);
        return priced(s);
      }
      const name = externalServiceName(url);
      return { serviceId: name, providerId: name, name, policyName: name, endpoint: url.origin, priceMicros: 0n, freeTierCalls: 0, category: 'external', registered: false };
    },

    /** Replays or resumes an earlier call with the same key, or records and pays for a new one. */
    async begin(service: PricedService, input: CallInput): Promise<Started> {
      // On the plain pool the insert itself finds a repeated key (ON CONFLICT): no read first.
      const insertFindsRepeats = deps.writer?.plain === true;
      if (input.idempotencyKey && !insertFindsRepeats) {
        const prior = await usage.findByKey(input.buyerId, input.idempotencyKey);
        if (prior) return prior.status === 'unsettled' ? resume(prior, service, input) : replayOf(prior, service.serviceId, input);
      }
      const usageId = randomUUID();
      if (
        deps.leases &&
        deps.writer?.plain &&
        !input.idempotencyKey &&
        !input.agentId &&
        !input.sessionId &&
        service.freeTierCalls === 0 &&
        service.priceMicros > 0n
      ) {
        const leaseId = await deps.leases.spend(input.buyerId, service.priceMicros);
        if (leaseId) {
          return {
            kind: 'charged',
            charge: {
              usageId,
              buyerId: input.buyerId,
              service,
              amountMicros: service.priceMicros,
              freeTier: false,
              chargeMethod: 'balance',
              debited: false,
              sessionId: null,
              sessionRemainingMicros: null,
              agentId: null,
              channel: input.channel,
              resumed: false,
              leaseId,
              method: input.method,
              path: input.path,
            },
          };
        }
        // No lease to be had (the balance cannot fund one, Redis is down): the direct debit below answers.
      }
      let freeTier = false;
      const paidMethod: ChargeMethod = service.priceMicros === 0n ? 'none' : input.sessionId ? 'session' : 'balance';
      const pendingRow = (free: boolean) => {
        const method = free ? 'free_tier' : paidMethod;
        return {
          id: usageId,
          buyerId: input.buyerId,
          serviceId: service.serviceId,
          providerId: service.providerId,
          method: input.method,
          path: input.path,
          amountMicros: free ? 0n : service.priceMicros,
          freeTier: free,
          paymentMethod: method,
          chargeMethod: method,
          channel: input.channel,
          agentId: input.agentId,
          sessionId: input.sessionId,
          idempotencyKey: input.idempotencyKey,
        };
      };
      // Its idempotency key was taken (an earlier call, or a concurrent twin): answer as a repeat of it.
      const repeat = async (): Promise<Started> => {
        const prior = await usage.findByKey(input.buyerId, input.idempotencyKey!);
        if (!prior) throw new AppError('CONFLICT', 'A request with this idempotency key is still in progress; retry shortly');
        return prior.status === 'unsettled' ? resume(prior, service, input) : replayOf(prior, service.serviceId, input);
      };
      if (deps.writer && service.freeTierCalls === 0) {
        // No free tier to claim: the record is one row of a batched insert.
        if (!(await deps.writer.insertPending(pendingRow(false)))) return repeat();
      } else if (deps.writer?.plain) {
        // The claim and the record in one statement (rolled back together if the key is taken).
        const r = await deps.writer.claimAndInsertPending(pendingRow(false), service.freeTierCalls, paidMethod);
        if (!r.inserted) return repeat();
        freeTier = r.freeTier;
      } else {
        try {
          await usage.transaction(async (tx) => {
            freeTier = service.freeTierCalls > 0 && (await usage.claimFreeCall(tx, input.buyerId, service.serviceId, service.freeTierCalls));
            await usage.createPending(tx, pendingRow(freeTier));
          });
        } catch (err) {
          // Two requests raced with one key; the loser answers as a repeat of the winner.
          if (input.idempotencyKey && isUniqueViolation(err)) {
            const prior = await usage.findByKey(input.buyerId, input.idempotencyKey);
            if (prior) return replayOf(prior, service.serviceId, input);
          }
          throw err;
        }
      }

      const chargeMethod: ChargeMethod = freeTier ? 'free_tier' : paidMethod;
      const charge: Charge = {
        usageId,
        buyerId: input.buyerId,
        service,
        amountMicros: freeTier ? 0n : service.priceMicros,
        freeTier,
        chargeMethod,
        debited: false,
        sessionId: input.sessionId,
        sessionRemainingMicros: null,
        agentId: input.agentId,
        channel: input.channel,
        resumed: false,
      };
      input.clock?.lap('record');
      if (chargeMethod !== 'balance' && chargeMethod !== 'session') return { kind: 'charged', charge };

      const refuse = async (detail: string, code: ErrorCode, reason?: string): Promise<never> => {
        await usage.settle(usageId, { status: 'refused', amountMicros: 0n, idempotencyKey: null, completedAt: new Date() });
        throw new AppError(code, detail, reason ? { reason } : undefined);
      };
      try {
        if (chargeMethod === 'balance') {
          // With an agent wallet the debit also counts against its budget (daily, monthly, cap), atomically in wallets.
          const r = await wallets.debit(
            {
              usageId,
              buyerId: input.buyerId,
              amountMicros: charge.amountMicros,
              providerId: service.providerId,
              serviceId: service.serviceId,
              ...(input.agentId ? { agentId: input.agentId, orgId: input.orgId } : {}),
            },
            input.requestId,
          );
          if (r.kind === 'insufficient') return refuse(r.detail, REFUSAL_CODE[r.status ?? 402] ?? 'PAYMENT_REQUIRED', r.reason);
          return { kind: 'charged', charge: { ...charge, debited: true } };
        }
        const r = await wallets.sessionDebit(
          {
            sessionId: input.sessionId!,
            usageId,
            amountMicros: charge.amountMicros,
            serviceName: service.policyName,
            providerId: service.providerId,
            ownerId: input.buyerId,
            orgId: input.orgId,
            // The session must be this agent's: with it the debit authorizes the call on its own.
            agentId: input.agentId,
          },
          input.requestId,
        );
        if (r.kind === 'refused') return refuse(r.detail, REFUSAL_CODE[r.status] ?? 'PAYMENT_REQUIRED', r.reason || undefined);
        return { kind: 'charged', charge: { ...charge, debited: true, sessionRemainingMicros: r.remainingMicros, perCallMaxMicros: r.perCallMaxMicros } };
      } catch (err) {
        if (!(err instanceof WalletsUnavailable)) throw err;
        // Wallets may have taken the debit before failing to answer: refund it to be sure.
        await close({ ...closable(charge), chargeMethod }, 'abandoned');
        logger.warn({ err: err.message, usage_id: usageId }, 'debit failed');
        throw new AppError('UNAVAILABLE', 'Payment service is unavailable; you were not charged, try again');
      }
    },

    /**
     * The provider answered: the record and its event commit together, before the body streams.
     * `billing` says whether the price stands, was waived (an upstream 402 nobody paid) or was
     * replaced by an x402 payment (then the charge is refunded).
     */
    complete: (c: Charge, o: Outcome & { headers: OutgoingHttpHeaders }, billing: Billing = { kind: 'price' }) => finishServed(c, o, billing),

    /** The provider could not be reached or timed out: the call is recorded, reported, and its price given back. */
    async fail(c: Charge, o: Outcome & { detail: string }): Promise<void> {
      if (c.leaseId) {
        await deps.leases!.giveBack(c.buyerId, c.leaseId, c.amountMicros);
        const facts = { usageId: c.usageId, buyerId: c.buyerId, service: c.service, amountMicros: 0n, freeTier: false, paymentMethod: c.chargeMethod, statusCode: o.statusCode, latencyMs: o.latencyMs };
        await deps.writer!.insertFinal(
          leasedRow(c, {
            status: 'failed',
            statusCode: o.statusCode,
            latencyMs: o.latencyMs,
            amountMicros: 0n,
            paymentMethod: c.chargeMethod,
            responseHeaders: { 'content-type': 'application/json; charset=utf-8' },
            responseBody: JSON.stringify({ detail: o.detail }),
            event: createEnvelope('metering', 'service.called', c.service.serviceId, serviceCalledData(facts)),
          }),
        );
        return;
      }
      await usage.transaction(async (tx) => {
        const settled = await usage.settle(
          c.usageId,
          {
            status: 'failed',
            statusCode: o.statusCode,
            latencyMs: o.latencyMs,
            amountMicros: 0n,
            refund: c.debited ? 'pending' : 'none',
            responseHeaders: { 'content-type': 'application/json; charset=utf-8' },
            responseBody: new Uint8Array(Buffer.from(JSON.stringify({ detail: o.detail }))),
            completedAt: new Date(),
          },
          tx,
        );
        if (!settled) throw new Error(`usage ${c.usageId} is no longer pending`);
        // A free call the provider failed to serve does not use up the buyer's free tier.
        if (c.freeTier) await usage.releaseFreeCall(tx, c.buyerId, c.service.serviceId);
        await events.serviceCalled(tx, { ...c, paymentMethod: c.chargeMethod, amountMicros: 0n, statusCode: o.statusCode, latencyMs: o.latencyMs });
      });
      if (c.debited) await refundNow(c);
    },

    /** An upstream's x402 challenge was not paid (over max_cost, policy, the wallet): nothing billed, the charge given back. */
    refuse: (c: Charge) => (c.leaseId ? closeLeased(c, 'refused') : close(closable(c), 'refused')),

    /**
     * An x402 payment was sent and no answer came back: it may have settled. The call keeps
     * its key and its charge; a retry with the same key resends the same payment, and the
     * sweeper settles it from the chain once the authorization has expired.
     */
    async unsettle(c: Charge, o: Outcome): Promise<void> {
      await usage.settle(c.usageId, { status: 'unsettled', statusCode: o.statusCode, latencyMs: o.latencyMs, sessionRemainingMicros: c.sessionRemainingMicros });
    },

    abandon: (c: Charge) => (c.leaseId ? closeLeased(c, 'abandoned') : close(closable(c), 'abandoned')),

    async storeReplayBody(usageId: string, body: Buffer): Promise<void> {
      if (body.length <= REPLAY_MAX_BYTES) await usage.storeBody(usageId, new Uint8Array(body));
    },

    summary: (buyerId: string): Promise<UsageSummary> => usage.summary(buyerId),

    /**
     * Retries refunds wallets did not take, closes calls whose process died mid-way, and
     * settles `unsettled` x402 calls whose authorization can no longer be used.
     */
    async sweep(): Promise<{ abandoned: number; refunded: number; settled: number; leasesClosed?: number }> {
      let leasesClosed = 0;
      if (deps.leases) {
        await deps.leases.settle().catch((err) => logger.warn({ err: String(err) }, 'lease charges not posted yet'));
        leasesClosed = await deps.leases.closeDue();
      }
      const stale = await usage.stalePending(new Date(now() - deps.staleAfterMs), 50);
      for (const r of stale) {
        const p = await deps.payments?.find(r.id);
        // Its payment went out, or may yet (a live call still signing): the chain decides, not a refund.
        if (p && p.status !== 'refused') await usage.settle(r.id, { status: 'unsettled' });
        else await close({ usageId: r.id, buyerId: r.buyerId, serviceId: r.serviceId, freeTier: r.freeTier, chargeMethod: r.chargeMethod, sessionId: r.sessionId }, 'abandoned');
      }

      let settled = 0;
      for (const r of await usage.unsettled(50)) {
        try {
          if (await settleFromChain(r)) settled++;
        } catch (err) {
          // A client's retry may have taken the call over meanwhile; the next sweep looks again.
          logger.warn({ err: String(err), usage_id: r.id }, 'cannot settle an unsettled call yet');
        }
      }

      const owed = await usage.pendingRefunds(50);
      let refunded = 0;
      const down = new Set<string>();
      for (const r of owed) {
        const kind = r.chargeMethod === 'session' ? 'session' : 'balance';
        if (down.has(kind)) continue;
        try {
          if (kind === 'session') await wallets.sessionRefund(r.sessionId!, r.id);
          else await wallets.refund(r.id);
          await usage.markRefunded(r.id);
          refunded++;
        } catch (err) {
          logger.warn({ err: String(err), usage_id: r.id }, 'refund still not taken');
          down.add(kind); // that route is failing; try again next sweep
        }
      }
      return { abandoned: stale.length, refunded, settled, ...(leasesClosed ? { leasesClosed } : {}) };
    },
  };

  /** An unsettled call, once its x402 outcome is known: billed as paid, or closed and refunded. */
  async function settleFromChain(r: UsageRow): Promise<boolean> {
    const p = await deps.payments?.find(r.id);
    const asPaid = async (costMicros: bigint) => {
      const s = await prices.find(r.serviceId);
      await finishServed(
        { ...r, usageId: r.id, chargeMethod: r.chargeMethod as ChargeMethod, service: { serviceId: r.serviceId, providerId: r.providerId, category: s?.category ?? 'external' } },
        { statusCode: r.statusCode ?? 504, latencyMs: r.latencyMs ?? 0 },
        { kind: 'x402', costMicros },
        'unsettled',
      );
    };
    const closed = { usageId: r.id, buyerId: r.buyerId, serviceId: r.serviceId, freeTier: r.freeTier, chargeMethod: r.chargeMethod, sessionId: r.sessionId };
    if (!p || p.status === 'refused') {
      await close(closed, 'refused', 'unsettled');
      return true;
    }
    if (p.status === 'settled' || p.status === 'accepted') {
      await asPaid(p.amountMicros);
      return true;
    }
    // reserved or signed: a used authorization is final at once; an unused one only once it has
    // expired (until validBefore it may still be signed, sent and submitted).
    const expired = BigInt(Math.floor(now() / 1000)) > p.validBefore;
    if (p.status === 'signed') {
      if (!deps.authorizations || !p.payer) return false;
      const used = await deps.authorizations.isUsed(p.payer, p.nonce);
      if (!used && !expired) return false;
      await deps.payments!.finish(r.id, { status: used ? 'settled' : 'refused', transaction: null, payer: p.payer, errorReason: used ? null : 'authorization expired unused' });
      if (used) await asPaid(p.amountMicros);
      else await close(closed, 'refused', 'unsettled');
      return true;
    }
    if (!expired) return false;
    await close(closed, 'refused', 'unsettled');
    return true;
  }
}
export type Metering = ReturnType<typeof createMetering>;
