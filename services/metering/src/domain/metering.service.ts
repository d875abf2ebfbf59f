import { randomUUID } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { AppError } from '@platform/http';
import type { Logger } from '@platform/telemetry';
import type { ServicePricesRepository, ServicePriceRow } from '../db/service-prices.repository';
import { isUniqueViolation, UsageRepository, UsageRow, UsageSummary } from '../db/usage.repository';
import type { MeteringPublishers } from '../events/publishers';
import { WalletsClient, WalletsUnavailable } from '../clients/wallets.client';

/** Largest provider response kept for idempotent replays. */
export const REPLAY_MAX_BYTES = 256 * 1024;

export interface CallInput {
  buyerId: string;
  method: string;
  /** The buyer's path below the service, for the record and for matching replays. */
  path: string;
  idempotencyKey: string | null;
  requestId: string;
}

/** A call that may go to the provider: its usage record exists and its price is paid. */
export interface Charge {
  usageId: string;
  buyerId: string;
  service: ServicePriceRow;
  amountMicros: bigint;
  freeTier: boolean;
  /** balance (prepaid, debited through wallets) | free_tier | none (a service priced at 0) */
  paymentMethod: 'balance' | 'free_tier' | 'none';
  /** Whether wallets may hold a debit for this call, i.e. whether a failure must refund it. */
  debited: boolean;
}

export type Started = { kind: 'replay'; record: UsageRow } | { kind: 'charged'; charge: Charge };

export interface Outcome {
  statusCode: number;
  latencyMs: number;
}

/**
 * The metering rules (spec 002 "Payment Proxy", steps 2-6): price lookup, free tier, charge,
 * usage record and the service.called event. Forwarding itself is the HTTP layer's job.
 *
 * Invariants: the usage record is written before any debit, so a crash leaves a trace the
 * sweeper can refund; every debit of a call that did not reach the provider is refunded;
 * each forwarded call commits its record and its one event together.
 */
export function createMetering(deps: {
  prices: ServicePricesRepository;
  usage: UsageRepository;
  wallets: WalletsClient;
  events: MeteringPublishers;
  logger: Logger;
  /** After this long a pending record belongs to a call that died with its process. */
  staleAfterMs: number;
}) {
  const { prices, usage, wallets, events, logger } = deps;

  function replayOf(prior: UsageRow, serviceId: string, input: CallInput): Started {
    if (prior.serviceId !== serviceId || prior.method !== input.method || prior.path !== input.path) {
      throw new AppError('CONFLICT', 'This idempotency key was already used for a different request; use a new key');
    }
    if (prior.status === 'pending') throw new AppError('CONFLICT', 'A request with this idempotency key is still in progress; retry shortly');
    if (prior.responseBody === null || prior.statusCode === null) {
      throw new AppError(
        'CONFLICT',
        `A call with this idempotency key was already made and billed (usage ${prior.id}); its response cannot be replayed because it was larger than 256 KB or is still streaming`,
      );
    }
    return { kind: 'replay', record: prior };
  }

  async function refundNow(usageId: string): Promise<void> {
    try {
      await wallets.refund(usageId);
      await usage.markRefunded(usageId);
    } catch (err) {
      logger.warn({ err: String(err), usage_id: usageId }, 'refund not taken yet; the sweeper retries it');
    }
  }

  /** Closes a call that never got a provider answer: nothing is billed, no event, the key is freed. */
  async function abandon(c: Pick<Charge, 'usageId' | 'buyerId' | 'freeTier' | 'debited'> & { serviceId: string }): Promise<void> {
    try {
      await usage.transaction(async (tx) => {
        const settled = await usage.settle(
          c.usageId,
          {
            status: 'abandoned',
            amountMicros: 0n,
            idempotencyKey: null,
            refund: c.debited ? 'pending' : 'none',
            completedAt: new Date(),
          },
          tx,
        );
        if (settled && c.freeTier) await usage.releaseFreeCall(tx, c.buyerId, c.serviceId);
      });
    } catch (err) {
      logger.error({ err: String(err), usage_id: c.usageId }, 'cannot mark usage abandoned; the sweeper will');
    }
    if (c.debited) await refundNow(c.usageId);
  }

  return {
    /** The service as the read model knows it; removed services are gone, paused ones are refused. */
    async lookup(serviceId: string): Promise<ServicePriceRow> {
      const s = await prices.find(serviceId);
      if (!s || s.status === 'removed') throw new AppError('NOT_FOUND', 'Service not found');
      if (s.status !== 'active') throw new AppError('CONFLICT', `Service is ${s.status} by its provider and does not accept calls now`);
      return s;
    },

    /** Replays an earlier call with the same key, or records and pays for a new one. */
    async begin(service: ServicePriceRow, input: CallInput): Promise<Started> {
      if (input.idempotencyKey) {
        const prior = await usage.findByKey(input.buyerId, input.idempotencyKey);
        if (prior) return replayOf(prior, service.serviceId, input);
      }
      const usageId = randomUUID();
      let freeTier = false;
      try {
        await usage.transaction(async (tx) => {
          freeTier = service.freeTierCalls > 0 && (await usage.claimFreeCall(tx, input.buyerId, service.serviceId, service.freeTierCalls));
          await usage.createPending(tx, {
            id: usageId,
            buyerId: input.buyerId,
            serviceId: service.serviceId,
            providerId: service.providerId,
            method: input.method,
            path: input.path,
            amountMicros: freeTier ? 0n : service.priceMicros,
            freeTier,
            paymentMethod: freeTier ? 'free_tier' : service.priceMicros === 0n ? 'none' : 'balance',
            idempotencyKey: input.idempotencyKey,
          });
        });
      } catch (err) {
        // Two requests raced with one key; the loser answers as a repeat of the winner.
        if (input.idempotencyKey && isUniqueViolation(err)) {
          const prior = await usage.findByKey(input.buyerId, input.idempotencyKey);
          if (prior) return replayOf(prior, service.serviceId, input);
        }
        throw err;
      }

      const charge: Charge = {
        usageId,
        buyerId: input.buyerId,
        service,
        amountMicros: freeTier ? 0n : service.priceMicros,
        freeTier,
        paymentMethod: freeTier ? 'free_tier' : service.priceMicros === 0n ? 'none' : 'balance',
        debited: false,
      };
      if (charge.paymentMethod !== 'balance') return { kind: 'charged', charge };

      let result;
      try {
        result = await wallets.debit(
          { usageId, buyerId: input.buyerId, amountMicros: charge.amountMicros, providerId: service.providerId, serviceId: service.serviceId },
          input.requestId,
        );
      } catch (err) {
        if (!(err instanceof WalletsUnavailable)) throw err;
        // Wallets may have taken the debit before failing to answer: refund it to be sure.
        await abandon({ ...charge, debited: true, serviceId: service.serviceId });
        logger.warn({ err: err.message, usage_id: usageId }, 'debit failed');
        throw new AppError('UNAVAILABLE', 'Payment service is unavailable; you were not charged, try again');
      }
      if (result.kind === 'insufficient') {
        await usage.settle(usageId, { status: 'refused', amountMicros: 0n, idempotencyKey: null, completedAt: new Date() });
        throw new AppError('PAYMENT_REQUIRED', result.detail);
      }
      return { kind: 'charged', charge: { ...charge, debited: true } };
    },

    /** The provider answered: the record and its event commit together, before the body streams. */
    async complete(c: Charge, o: Outcome & { headers: OutgoingHttpHeaders }): Promise<void> {
      await usage.transaction(async (tx) => {
        const settled = await usage.settle(
          c.usageId,
          {
            status: 'completed',
            statusCode: o.statusCode,
            latencyMs: o.latencyMs,
            responseHeaders: o.headers as object,
            completedAt: new Date(),
          },
          tx,
        );
        if (!settled) throw new Error(`usage ${c.usageId} is no longer pending`);
        await events.serviceCalled(tx, { ...c, statusCode: o.statusCode, latencyMs: o.latencyMs });
      });
    },

    /** The provider could not be reached or timed out: the call is recorded, reported, and its price given back. */
    async fail(c: Charge, o: Outcome & { detail: string }): Promise<void> {
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
        await events.serviceCalled(tx, { ...c, amountMicros: 0n, statusCode: o.statusCode, latencyMs: o.latencyMs });
      });
      if (c.debited) await refundNow(c.usageId);
    },

    abandon: (c: Charge) => abandon({ ...c, serviceId: c.service.serviceId }),

    async storeReplayBody(usageId: string, body: Buffer): Promise<void> {
      if (body.length <= REPLAY_MAX_BYTES) await usage.storeBody(usageId, new Uint8Array(body));
    },

    summary: (buyerId: string): Promise<UsageSummary> => usage.summary(buyerId),

    /** Retries refunds wallets did not take, and closes calls whose process died mid-way. */
    async sweep(): Promise<{ abandoned: number; refunded: number }> {
      const stale = await usage.stalePending(new Date(Date.now() - deps.staleAfterMs), 50);
      for (const r of stale) {
        await abandon({ usageId: r.id, buyerId: r.buyerId, serviceId: r.serviceId, freeTier: r.freeTier, debited: r.paymentMethod === 'balance' });
      }
      const owed = await usage.pendingRefunds(50);
      let refunded = 0;
      for (const r of owed) {
        try {
          await wallets.refund(r.id);
          await usage.markRefunded(r.id);
          refunded++;
        } catch (err) {
          logger.warn({ err: String(err), usage_id: r.id }, 'refund still not taken');
          break; // wallets is down; try again next sweep
        }
      }
      return { abandoned: stale.length, refunded };
    },
  };
}
export type Metering = ReturnType<typeof createMetering>;
