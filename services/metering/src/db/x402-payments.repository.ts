import type { Db } from './client';
import type { X402Payment as Row } from '../generated/prisma/client';
import type { PaymentStatus, X402Payment, X402PaymentStore } from '../domain/x402.service';

const toPayment = (r: Row): X402Payment => ({
  usageId: r.usageId,
  agentId: r.agentId,
  x402Version: r.x402Version === 1 ? 1 : 2,
  network: r.network,
  asset: r.asset,
  payTo: r.payTo,
  amountMicros: r.amountMicros,
  nonce: r.nonce,
  validAfter: r.validAfter,
  validBefore: r.validBefore,
  challenge: r.challenge as unknown as X402Payment['challenge'],
  headerName: r.headerName,
  headerValue: r.headerValue,
  status: r.status as PaymentStatus,
  payer: r.payer,
  transaction: r.transaction,
  errorReason: r.errorReason,
});

/** A payment whose wallets booking may still hold agent budget it will never spend. */
export interface UnreleasedPayment {
  usageId: string;
  agentId: string;
  nonce: string;
  status: PaymentStatus;
}

export type Release = 'voided' | 'not_signed' | 'used';

/** x402_payments: every transition is conditional on the current status, so replicas racing on one usage id agree. */
export function x402PaymentsRepository(db: Db): X402PaymentStore & {
  /** Refused or never-signed payments not released yet whose authorization expired before `expiredBefore` (unix seconds). */
  unreleased(expiredBefore: bigint, limit: number): Promise<UnreleasedPayment[]>;
  markReleased(usageId: string, release: Release): Promise<void>;
} {
  const find = async (usageId: string) => {
    const r = await db.x402Payment.findUnique({ where: { usageId } });
    return r ? toPayment(r) : null;
  };
  return {
    find,
    async reserve(p) {
      // ON CONFLICT DO NOTHING: the first reservation of a usage id wins, with its nonce.
      await db.x402Payment.createMany({
        data: [
          {
            usageId: p.usageId,
            agentId: p.agentId,
            x402Version: p.x402Version,
            network: p.network,
            asset: p.asset,
            payTo: p.payTo,
            amountMicros: p.amountMicros,
            nonce: p.nonce,
            validAfter: p.validAfter,
            validBefore: p.validBefore,
            challenge: p.challenge as object,
            status: 'reserved',
          },
        ],
        skipDuplicates: true,
      });
      const stored = await find(p.usageId);
      if (!stored) throw new Error(`x402 payment for usage ${p.usageId} was neither stored nor found (nonce collision?)`);
      return stored;
    },
    async markSigned(usageId, header, payer) {
      await db.x402Payment.updateMany({
        where: { usageId, status: 'reserved' },
        data: { status: 'signed', headerName: header.name, headerValue: header.value, payer, updatedAt: new Date() },
      });
      return (await find(usageId))!;
    },
    async unreleased(expiredBefore, limit) {
      const rows = await db.x402Payment.findMany({
        where: { releasedAt: null, status: { in: ['refused', 'reserved'] }, validBefore: { lt: expiredBefore } },
        orderBy: { validBefore: 'asc' },
        take: limit,
        select: { usageId: true, agentId: true, nonce: true, status: true },
      });
      return rows.map((r) => ({ ...r, status: r.status as PaymentStatus }));
    },
    async markReleased(usageId, release) {
      await db.x402Payment.updateMany({ where: { usageId, releasedAt: null }, data: { releasedAt: new Date(), release, updatedAt: new Date() } });
    },
    async finish(usageId, o) {
      await db.x402Payment.updateMany({
        where: { usageId, status: 'signed' },
        data: { status: o.status, transaction: o.transaction, payer: o.payer, errorReason: o.errorReason, updatedAt: new Date() },
      });
    },
  };
}
