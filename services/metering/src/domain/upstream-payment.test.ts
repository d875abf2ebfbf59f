import { createUpstreamPayments } from './upstream-payment';
import { SignerRefused, X402Payment, X402PaymentStore, Eip3009Request } from './x402.service';
import type { Charge } from './metering.service';
import type { HttpReply } from './x402.protocol';

const USDC = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C';
const FROM = '0x857b06519E91e3A54538791bDbb0E22373e36b66';
const challenge: HttpReply = {
  status: 402,
  headers: {},
  body: JSON.stringify({
    x402Version: 1,
    accepts: [{ scheme: 'exact', network: 'base-sepolia', maxAmountRequired: '30000', resource: 'http://api.test/x', payTo: PAY_TO, maxTimeoutSeconds: 60, asset: USDC }],
  }),
};
const charge = { usageId: 'u-1', agentId: 'agent-1', service: { policyName: 'api.test' } } as Charge;

function memoryStore(): X402PaymentStore {
  const rows = new Map<string, X402Payment>();
  return {
    find: async (id) => rows.get(id) ?? null,
    async reserve(r) {
      if (!rows.has(r.usageId)) rows.set(r.usageId, { ...r, headerName: null, headerValue: null, status: 'reserved', payer: null, transaction: null, errorReason: null });
      return rows.get(r.usageId)!;
    },
    async markSigned(id, h, payer) {
      Object.assign(rows.get(id)!, { status: 'signed', headerName: h.name, headerValue: h.value, payer });
      return rows.get(id)!;
    },
    async finish(id, o) {
      Object.assign(rows.get(id)!, o);
    },
  };
}

const signer = (fail?: Error) => ({
  async authorize(r: Eip3009Request) {
    if (fail) throw fail;
    return {
      authorization: { from: FROM, to: r.to, value: r.value.toString(), validAfter: r.validAfter.toString(), validBefore: r.validBefore.toString(), nonce: r.nonce },
      signature: `0x${'5a'.repeat(65)}`,
    };
  },
});

const payments = (fail?: Error) => createUpstreamPayments({ store: memoryStore(), signer: signer(fail), settings: { network: 'base-sepolia', chainId: 84532, asset: USDC } });
const ok = async (): Promise<HttpReply> => ({ status: 200, headers: {}, body: 'ok' });

describe('upstream x402 payments → call outcomes', () => {
  it('only calls made for an agent wallet can pay', () => {
    expect(payments().canPay({ agentId: null })).toBe(false);
    expect(payments().canPay({ agentId: 'a' })).toBe(true);
  });

  it('pays and answers the paid reply with the authorized amount as the cost', async () => {
    expect(await payments().pay(charge, challenge, { maxCostMicros: 50_000n, perCallMaxMicros: null, resend: ok })).toEqual({ kind: 'paid', reply: { status: 200, headers: {}, body: 'ok' }, costMicros: 30_000n });
  });

  it('passes a 402 it cannot pay through, unpaid', async () => {
    const r = await payments().pay(charge, { status: 402, headers: {}, body: 'pay me' }, { maxCostMicros: null, perCallMaxMicros: null, resend: ok });
    expect(r).toEqual({ kind: 'unpaid', reply: null });
  });

  it('refuses with 422 over max_cost and 402 over the per-call max', async () => {
    const over = await payments().pay(charge, challenge, { maxCostMicros: 10_000n, perCallMaxMicros: null, resend: ok });
    expect(over).toMatchObject({ kind: 'refused', error: { status: 422, message: 'Cost exceeds max_cost: the service charges $0.0300, more than max_cost ($0.0100)' } });
    const perCall = await payments().pay(charge, challenge, { maxCostMicros: null, perCallMaxMicros: 20_000n, resend: ok });
    expect(perCall).toMatchObject({ kind: 'refused', error: { status: 402 } });
  });

  it("keeps the wallet's refusal status (403 not allowed) and answers 503 when it cannot sign", async () => {
    expect(await payments(new SignerRefused('Agent wallet is deactivated', 403)).pay(charge, challenge, { maxCostMicros: null, perCallMaxMicros: null, resend: ok })).toMatchObject({
      kind: 'refused',
      error: { status: 403, message: 'Agent wallet is deactivated' },
    });
    expect(await payments(new Error('wallets down')).pay(charge, challenge, { maxCostMicros: null, perCallMaxMicros: null, resend: ok })).toMatchObject({ kind: 'refused', error: { status: 503 } });
  });

  it('a failure after the payment was sent leaves it unsettled, with its cause', async () => {
    const lost = new Error('socket hang up');
    const r = await payments().pay(charge, challenge, { maxCostMicros: null, perCallMaxMicros: null, resend: async () => Promise.reject(lost) });
    expect(r).toMatchObject({ kind: 'unsettled', cause: lost });
  });
});
