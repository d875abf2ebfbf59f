import { AppError } from '@platform/http';
import { formatUsd } from '@platform/money';
import { accountKey, type AccountRef } from './ledger';
import type { LedgerRepository, PostedEntry } from '../db/ledger.repository';
import type { LeaseRecord, LeasesRepository } from '../db/leases.repository';
import { balanceAfter, buyerBalance, leaseAccount } from './balances.service';

export interface OpenLeaseRequest {
  leaseId: string;
  buyerId: string;
  /** What metering asks for; less is granted when the buyer_balance holds less. */
  amountMicros: bigint;
  /** The least metering accepts; below it nothing is leased (402). */
  minMicros: bigint;
}
export interface LeaseOpened {
  leaseId: string;
  buyerId: string;
  grantedMicros: bigint;
  /** The buyer_balance account right after the lease took its slice (a replay: after the first). */
  balanceMicros: bigint;
  duplicate: boolean;
}
export interface LeaseClosed {
  leaseId: string;
  buyerId: string;
  grantedMicros: bigint;
  /** What lease debits took: granted − released (a lease debit refunded later went back to buyer_balance). */
  chargedMicros: bigint;
  releasedMicros: bigint;
  /** The buyer_balance account right after the release (a replay: after the first, or now when nothing was released). */
  balanceMicros: bigint;
  duplicate: boolean;
}

/** Ledger keys: the slice taken once per lease, the rest given back once per lease. */
export const leaseKey = (leaseId: string) => `lease:${leaseId}`;
export const leaseReleaseKey = (leaseId: string) => `lease_release:${leaseId}`;

const notFound = (leaseId: string) => new AppError('NOT_FOUND', `No balance lease ${leaseId}`, { reason: 'lease_not_found' });

/**
 * Balance leases (README "Balance leases"): metering takes a slice of a buyer's prepaid balance
 * once, spends it call by call itself, posts the charges against it (lease debits, in
 * balances.service) and closes it. The slice is escrow in the ledger account
 * (lease id, balance_lease), so it can never be spent twice, whatever metering's replicas do.
 */
export function leaseService(deps: { ledger: LedgerRepository; leases: LeasesRepository }) {
  const { ledger, leases } = deps;

  /** The first result of an open, answered again to the same buyer; another buyer's lease id is a 409. */
  async function replayOpen(lease: LeaseRecord, req: OpenLeaseRequest, entry: PostedEntry | null): Promise<LeaseOpened> {
    if (lease.buyerId !== req.buyerId) {
      throw new AppError('CONFLICT', `lease_id ${req.leaseId} is already another buyer's lease`, { reason: 'lease_conflict' });
    }
    if (!entry) throw new Error(`balance lease ${lease.id} has no ${leaseKey(lease.id)} entry`);
    return { leaseId: lease.id, buyerId: lease.buyerId, grantedMicros: lease.grantedMicros, balanceMicros: balanceAfter(entry, buyerBalance(lease.buyerId)), duplicate: true };
  }

  function closedResult(lease: LeaseRecord, balanceMicros: bigint, duplicate: boolean): LeaseClosed {
    const released = lease.releasedMicros ?? 0n;
    return { leaseId: lease.id, buyerId: lease.buyerId, grantedMicros: lease.grantedMicros, chargedMicros: lease.grantedMicros - released, releasedMicros: released, balanceMicros, duplicate };
  }

  return {
    /**
     * Moves min(amount, buyer_balance) into the lease's account, in one transaction under the
     * buyer_balance row lock; below `minMicros` it is a 402 that writes nothing. Idempotent by
     * lease id (key `lease:<id>`).
     */
    async open(req: OpenLeaseRequest): Promise<LeaseOpened> {
      return ledger.transaction(async (tx) => {
        // Taken first: an open racing this one for the same buyer waits here, then sees its lease.
        const available = await ledger.lockBalance(tx, buyerBalance(req.buyerId));
        const existing = await leases.findById(req.leaseId, tx);
        if (existing) return replayOpen(existing, req, await ledger.findEntry(leaseKey(req.leaseId), tx));
        const granted = available < req.amountMicros ? available : req.amountMicros;
        if (granted < req.minMicros) {
          throw new AppError('PAYMENT_REQUIRED', `Insufficient balance: ${formatUsd(available)} USDC available, ${formatUsd(req.minMicros)} USDC required`, {
            reason: 'insufficient_balance',
            balance_micros: available.toString(),
            required_micros: req.minMicros.toString(),
          });
        }
        const r = await ledger.post(tx, {
          idempotencyKey: leaseKey(req.leaseId),
          kind: 'lease',
          metadata: {
            lease_id: req.leaseId,
            buyer_id: req.buyerId,
            requested_micros: req.amountMicros.toString(),
            min_micros: req.minMicros.toString(),
            granted_micros: granted.toString(),
          },
          postings: [
            { account: buyerBalance(req.buyerId), amount: -granted },
            { account: leaseAccount(req.leaseId), amount: granted },
          ],
        });
        if (r.duplicate) {
          // The same lease id opened for another buyer committed while this waited for the key.
          const other = await leases.findById(req.leaseId, tx);
          if (!other) throw new Error(`${leaseKey(req.leaseId)} exists without its balance lease`);
          return replayOpen(other, req, r.entry);
        }
        await leases.create(tx, { id: req.leaseId, buyerId: req.buyerId, grantedMicros: granted });
        return { leaseId: req.leaseId, buyerId: req.buyerId, grantedMicros: granted, balanceMicros: balanceAfter(r.entry, buyerBalance(req.buyerId)), duplicate: false };
      });
    },

    /**
     * Gives the lease's whole remaining balance back to the buyer_balance (key
     * `lease_release:<id>`, no entry when nothing is left) and marks it closed, in one
     * transaction. The lease account's row lock orders it against lease debits: one committed
     * before is counted, one after finds the account empty (and is then answered 409
     * lease_closed). Idempotent: a second close answers the first result.
     */
    async close(leaseId: string): Promise<LeaseClosed> {
      return ledger.transaction(async (tx) => {
        const lease = await leases.lockById(tx, leaseId);
        if (!lease) throw notFound(leaseId);
        const buyer = buyerBalance(lease.buyerId);
        if (lease.state === 'closed') {
          const entry = lease.releasedMicros ? await ledger.findEntry(leaseReleaseKey(lease.id), tx) : null;
          return closedResult(lease, entry ? balanceAfter(entry, buyer) : await ledger.balanceOf(buyer, tx), true);
        }
        // Both accounts in the global lock order (as every entry takes them), so a close cannot
        // deadlock with debits and refunds of the same buyer.
        const locked = new Map<string, bigint>();
        for (const a of [leaseAccount(lease.id), buyer].sort((x: AccountRef, y: AccountRef) => (accountKey(x) < accountKey(y) ? -1 : 1))) {
          locked.set(a.kind, await ledger.lockBalance(tx, a));
        }
        const remaining = locked.get('balance_lease') ?? 0n;
        let buyerAfter = locked.get('buyer_balance') ?? 0n;
        if (remaining > 0n) {
          const r = await ledger.post(tx, {
            idempotencyKey: leaseReleaseKey(lease.id),
            kind: 'lease_release',
            metadata: {
              lease_id: lease.id,
              buyer_id: lease.buyerId,
              granted_micros: lease.grantedMicros.toString(),
              released_micros: remaining.toString(),
              charged_micros: (lease.grantedMicros - remaining).toString(),
            },
            postings: [
              { account: leaseAccount(lease.id), amount: -remaining },
              { account: buyer, amount: remaining },
            ],
          });
          if (r.duplicate) throw new Error(`${leaseReleaseKey(lease.id)} exists for an open lease`);
          buyerAfter = balanceAfter(r.entry, buyer);
        }
        return closedResult(await leases.markClosed(tx, lease.id, remaining, new Date()), buyerAfter, false);
      });
    },
  };
}
export type LeaseService = ReturnType<typeof leaseService>;
