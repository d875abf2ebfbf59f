import { randomBytes, randomUUID } from 'node:crypto';
import { startMetering, Metering } from './support/harness';
import { x402PaymentsRepository } from '../src/db/x402-payments.repository';
import { x402BookingReleaser } from '../src/domain/x402-release';
import type { VoidOutcome } from '../src/clients/signer.client';

/**
 * The sweep that gives back agent budget booked for x402 payments that never happened, on
 * metering's real x402_payments table. Wallets' void route itself (with its on-chain check) is
 * tested in services/wallets/test/x402-void.int.test.ts; here a recording signer answers it.
 */
describe('releasing expired x402 bookings', () => {
  let m: Metering;
  const NOW_S = 2_000_000_000;
  const log = { warn: jest.fn(), info: jest.fn() };

  beforeAll(async () => {
    m = await startMetering();
  });
  afterAll(async () => {
    await m.stop();
  });

  async function payment(status: string, validBefore: number, agentId = `agent-${randomUUID().slice(0, 8)}`) {
    const row = {
      usageId: randomUUID(),
      agentId,
      x402Version: 1,
      network: 'base-sepolia',
      asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
      payTo: '0x000000000000000000000000000000000000dEaD',
      amountMicros: 30_000n,
      nonce: `0x${randomBytes(32).toString('hex')}`,
      validAfter: 0n,
      validBefore: BigInt(validBefore),
      challenge: {},
      status,
    };
    await m.svc.db.x402Payment.create({ data: row });
    return row;
  }

  function recordingSigner(answer: (agentId: string, nonce: string) => VoidOutcome | Error) {
    const calls: string[] = [];
    return {
      calls,
      async voidAuthorization(agentId: string, nonce: string): Promise<VoidOutcome> {
        calls.push(nonce);
        const a = answer(agentId, nonce);
        if (a instanceof Error) throw a;
        return a;
      },
    };
  }

  it('voids refused and never-signed payments only once their authorization has expired past the grace, once each', async () => {
    const refusedOld = await payment('refused', NOW_S - 120);
    const reservedOld = await payment('reserved', NOW_S - 3600);
    const refusedInGrace = await payment('refused', NOW_S - 30); // expired, but within the 60 s grace
    const refusedLive = await payment('refused', NOW_S + 300); // the payee could still submit it
    const settled = await payment('settled', NOW_S - 3600);
    const signed = await payment('signed', NOW_S - 3600); // the metering sweep settles it from the chain first

    const signer = recordingSigner(() => ({ kind: 'voided', voidedMicros: 30_000n, duplicate: false }));
    const release = x402BookingReleaser({ payments: x402PaymentsRepository(m.svc.db), signer, logger: log, graceSeconds: 60, now: () => NOW_S * 1000 });

    const mine = new Set([refusedOld.nonce, reservedOld.nonce, refusedInGrace.nonce, refusedLive.nonce, settled.nonce, signed.nonce]);
    await release(1_000);
    expect(signer.calls.filter((n) => mine.has(n)).sort()).toEqual([refusedOld.nonce, reservedOld.nonce].sort());
    const rows = await m.svc.db.x402Payment.findMany({ where: { usageId: { in: [refusedOld.usageId, reservedOld.usageId, refusedInGrace.usageId, refusedLive.usageId, settled.usageId, signed.usageId] } } });
    const byUsage = new Map(rows.map((r) => [r.usageId, r]));
    expect(byUsage.get(refusedOld.usageId)).toMatchObject({ release: 'voided', status: 'refused' });
    expect(byUsage.get(refusedOld.usageId)!.releasedAt).toBeInstanceOf(Date);
    expect(byUsage.get(reservedOld.usageId)).toMatchObject({ release: 'voided' });
    for (const r of [refusedInGrace, refusedLive, settled, signed]) expect(byUsage.get(r.usageId)).toMatchObject({ release: null, releasedAt: null });

    // The next sweep asks nothing again.
    signer.calls.length = 0;
    await release(1_000);
    expect(signer.calls.filter((n) => mine.has(n))).toEqual([]);
  });

  it('records what wallets found: not signed, or used on chain (the booking stays, with a warning)', async () => {
    const never = await payment('reserved', NOW_S - 600);
    const usedAfterAll = await payment('refused', NOW_S - 600);
    const signer = recordingSigner((_a, nonce) => (nonce === usedAfterAll.nonce ? { kind: 'used' } : { kind: 'not_signed' }));
    const release = x402BookingReleaser({ payments: x402PaymentsRepository(m.svc.db), signer, logger: log, now: () => NOW_S * 1000 });

    await release(1_000);
    const rows = await m.svc.db.x402Payment.findMany({ where: { usageId: { in: [never.usageId, usedAfterAll.usageId] } } });
    expect(Object.fromEntries(rows.map((r) => [r.usageId, r.release]))).toEqual({ [never.usageId]: 'not_signed', [usedAfterAll.usageId]: 'used' });
    expect(log.warn).toHaveBeenCalledWith(expect.objectContaining({ usage_id: usedAfterAll.usageId }), expect.stringMatching(/used on chain/));
  });

  it('stops at the first payment wallets cannot answer for and leaves it for the next sweep', async () => {
    const a = await payment('refused', NOW_S - 7200);
    const signer = recordingSigner(() => new Error('wallets unavailable'));
    const release = x402BookingReleaser({ payments: x402PaymentsRepository(m.svc.db), signer, logger: log, now: () => NOW_S * 1000 });
    const r = await release(1_000);
    expect(signer.calls).toHaveLength(1);
    expect(r).toEqual({ released: 0, used: 0 });
    // Nothing recorded: a later sweep tries again.
    expect(await m.svc.db.x402Payment.findUniqueOrThrow({ where: { usageId: a.usageId } })).toMatchObject({ release: null, releasedAt: null });
  });
});
