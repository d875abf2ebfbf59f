import { createX402Payer, Eip3009Request, PaymentPolicy, SignerRefused, X402Payment, X402PaymentStore } from './x402.service';
import type { HttpReply } from './x402.protocol';

const USDC = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C';
const FROM = '0x857b06519E91e3A54538791bDbb0E22373e36b66';
const NOW_MS = 1_750_000_000_000;
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
const decode = (v: string) => JSON.parse(Buffer.from(v, 'base64').toString('utf8'));

const requirement = (over: object = {}) => ({
  scheme: 'exact',
  network: 'base-sepolia',
  maxAmountRequired: '25000',
  resource: 'http://provider.test/data',
  description: 'data',
  mimeType: 'application/json',
  payTo: PAY_TO,
  maxTimeoutSeconds: 120,
  asset: USDC,
  extra: { name: 'USDC', version: '2' },
  ...over,
});
const challengeV1 = (over: object = {}): HttpReply => ({ status: 402, headers: {}, body: JSON.stringify({ x402Version: 1, error: 'X-PAYMENT header is required', accepts: [requirement(over)] }) });
const settled = (status = 200): HttpReply => ({
  status,
  headers: { 'x-payment-response': b64({ success: true, transaction: `0x${'ab'.repeat(32)}`, network: 'base-sepolia', payer: FROM }) },
  body: '{"data":1}',
});

/** In-memory X402PaymentStore with the same conditional transitions as the table. */
function memoryStore(): X402PaymentStore & { rows: Map<string, X402Payment> } {
  const rows = new Map<string, X402Payment>();
  return {
    rows,
    find: async (id) => (rows.has(id) ? { ...rows.get(id)! } : null),
    async reserve(r) {
      if (!rows.has(r.usageId)) rows.set(r.usageId, { ...r, headerName: null, headerValue: null, status: 'reserved', payer: null, transaction: null, errorReason: null });
      return { ...rows.get(r.usageId)! };
    },
    async markSigned(id, header, payer) {
      const row = rows.get(id)!;
      if (row.status === 'reserved') Object.assign(row, { status: 'signed', headerName: header.name, headerValue: header.value, payer });
      return { ...row };
    },
    async finish(id, o) {
      const row = rows.get(id)!;
      if (row.status === 'signed') Object.assign(row, o);
    },
  };
}

function signerWith(behaviour: (r: Eip3009Request) => object | Error = () => ({})) {
  const requests: Eip3009Request[] = [];
  return {
    requests,
    async authorize(r: Eip3009Request) {
      requests.push(r);
      const over = behaviour(r);
      if (over instanceof Error) throw over;
      return {
        authorization: { from: FROM, to: r.to, value: r.value.toString(), validAfter: r.validAfter.toString(), validBefore: r.validBefore.toString(), nonce: r.nonce, ...over },
        signature: `0x${'5a'.repeat(65)}`,
      };
    },
  };
}

const allowAll: PaymentPolicy = { check: async () => ({ allowed: true }) };

function payer(opts: { store?: ReturnType<typeof memoryStore>; signer?: ReturnType<typeof signerWith>; policy?: PaymentPolicy; used?: Set<string> } = {}) {
  let n = 0;
  const store = opts.store ?? memoryStore();
  const signer = opts.signer ?? signerWith();
  const p = createX402Payer({
    store,
    signer,
    policy: opts.policy ?? allowAll,
    settings: { network: 'base-sepolia', chainId: 84532, asset: USDC },
    now: () => NOW_MS,
    nonce: () => `0x${(++n).toString(16).padStart(64, '0')}`,
    authorizations: opts.used ? { isUsed: async (_payer, nonce) => opts.used!.has(nonce) } : undefined,
  });
  return { ...p, store, signer };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('x402 payer', () => {
  it('pays a v1 challenge: reserves, signs that nonce, resends with X-PAYMENT and records the settlement', async () => {
    const x = payer();
    const sent: { name: string; value: string }[] = [];
    const r = await x.pay({ usageId: 'u-1', agentId: 'agent-1', service: null, maxCostMicros: 50_000n, challenge: challengeV1(), resend: async (h) => (sent.push(h), settled()) });

    expect(r.kind).toBe('paid');
    if (r.kind !== 'paid') return;
    expect(r.costMicros).toBe(25_000n);
    expect(r.settlement?.transaction).toBe(`0x${'ab'.repeat(32)}`);
    expect(x.signer.requests).toEqual([
      { agentId: 'agent-1', to: PAY_TO, value: 25_000n, validAfter: BigInt(NOW_MS / 1000 - 600), validBefore: BigInt(NOW_MS / 1000 + 120), nonce: `0x${'1'.padStart(64, '0')}`, usageId: 'u-1', service: null },
    ]);
    expect(sent).toHaveLength(1);
    expect(sent[0].name).toBe('x-payment');
    expect(decode(sent[0].value)).toMatchObject({ x402Version: 1, scheme: 'exact', network: 'base-sepolia', payload: { authorization: { from: FROM, to: PAY_TO, value: '25000', nonce: x.signer.requests[0].nonce } } });
    expect(x.store.rows.get('u-1')).toMatchObject({ status: 'settled', amountMicros: 25_000n, payer: FROM, transaction: `0x${'ab'.repeat(32)}` });
  });

  it('pays a v2 challenge with PAYMENT-SIGNATURE; no settlement header still counts as paid (accepted)', async () => {
    const x = payer();
    const required = {
      x402Version: 2,
      resource: { url: 'http://provider.test/data', description: 'data', mimeType: 'application/json' },
      accepts: [{ scheme: 'exact', network: 'eip155:84532', amount: '9000', asset: USDC, payTo: PAY_TO, maxTimeoutSeconds: 60, extra: { name: 'USDC', version: '2' } }],
    };
    let header: { name: string; value: string } | undefined;
    const r = await x.pay({
      usageId: 'u-2',
      agentId: 'agent-1',
      service: null,
      maxCostMicros: null,
      challenge: { status: 402, headers: { 'payment-required': b64(required) }, body: '{}' },
      resend: async (h) => ((header = h), { status: 200, headers: {}, body: 'ok' }),
    });
    expect(r).toMatchObject({ kind: 'paid', costMicros: 9_000n, settlement: null });
    expect(header!.name).toBe('payment-signature');
    expect(decode(header!.value)).toMatchObject({ x402Version: 2, resource: required.resource, accepted: required.accepts[0] });
    expect(x.store.rows.get('u-2')!.status).toBe('accepted');
  });

  it('refuses over max_cost, by policy, and when nothing is payable, before reserving or signing anything', async () => {
    const x = payer({ policy: { check: async (q) => (q.amountMicros > 20_000n ? { allowed: false, reason: 'Over the per-call max of 20000' } : { allowed: true }) } });
    const never = async (): Promise<HttpReply> => {
      throw new Error('must not resend');
    };
    expect(await code(x.pay({ usageId: 'a', agentId: 'ag', service: null, maxCostMicros: 24_999n, challenge: challengeV1(), resend: never }))).toBe('over_max_cost');
    expect(await code(x.pay({ usageId: 'b', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: never }))).toBe('policy_refused');
    expect(await code(x.pay({ usageId: 'c', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1({ network: 'base' }), resend: never }))).toBe('no_payable_requirement');
    expect(await code(x.pay({ usageId: 'd', agentId: 'ag', service: null, maxCostMicros: null, challenge: { status: 402, headers: {}, body: 'no' }, resend: never }))).toBe('not_x402');
    expect(x.store.rows.size).toBe(0);
    expect(x.signer.requests).toHaveLength(0);
  });

  it('after a timeout, a retry of the same usage id resends the same authorization and never signs again', async () => {
    const x = payer();
    const sent: string[] = [];
    const timeout = async (h: { value: string }): Promise<HttpReply> => {
      sent.push(h.value);
      throw new Error('upstream timeout');
    };
    await expect(x.pay({ usageId: 'u-3', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: timeout })).rejects.toThrow('upstream timeout');
    expect(x.store.rows.get('u-3')!.status).toBe('signed');
    // The retry gets a fresh 402 (with another price even): the stored payment is what is sent.
    const r = await x.pay({ usageId: 'u-3', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1({ maxAmountRequired: '99' }), resend: async (h) => (sent.push(h.value), settled()) });
    expect(r.kind).toBe('paid');
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe(sent[0]);
    expect(x.signer.requests).toHaveLength(1);
    expect(await code(x.pay({ usageId: 'u-3', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => settled() }))).toBe('already_settled');
  });

  it('a crash between reserving and signing: the retry signs the reserved nonce, not a new one', async () => {
    const store = memoryStore();
    const failing = payer({ store, signer: signerWith(() => new Error('wallets unavailable')) });
    expect(await code(failing.pay({ usageId: 'u-4', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => settled() }))).toBe('signer_failed');
    const reserved = store.rows.get('u-4')!;
    expect(reserved.status).toBe('reserved');

    const retry = payer({ store });
    const r = await retry.pay({ usageId: 'u-4', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => settled() });
    expect(r.kind).toBe('paid');
    expect(retry.signer.requests.map((q) => q.nonce)).toEqual([reserved.nonce]);
  });

  it("maps the wallet's refusal (policy, budget) to policy_refused and sends nothing", async () => {
    const x = payer({ signer: signerWith(() => new SignerRefused('Insufficient budget: the agent has spent 900 of its daily_limit of 1000 micro-USDC')) });
    let resent = false;
    await expect(x.pay({ usageId: 'u-r', agentId: 'ag', service: 'exa.ai', maxCostMicros: null, challenge: challengeV1(), resend: async () => ((resent = true), settled()) })).rejects.toMatchObject({
      code: 'policy_refused',
      message: expect.stringContaining('daily_limit'),
    });
    expect(resent).toBe(false);
    expect(x.signer.requests[0]).toMatchObject({ usageId: 'u-r', service: 'exa.ai' });
  });

  it('sends nothing when the wallet signs something else', async () => {
    for (const over of [{ to: FROM }, { value: '25001' }, { nonce: `0x${'9'.repeat(64)}` }, { from: 'nope' }]) {
      const x = payer({ signer: signerWith(() => over) });
      let resent = false;
      const c = await code(x.pay({ usageId: 'u-5', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => ((resent = true), settled()) }));
      expect([c, resent]).toEqual(['bad_authorization', false]);
    }
  });

  it('records a refused payment at no cost and will not pay that usage id again', async () => {
    const x = payer();
    const refused: HttpReply = {
      status: 402,
      headers: { 'x-payment-response': b64({ success: false, errorReason: 'insufficient_funds', transaction: '', network: 'base-sepolia', payer: FROM }) },
      body: JSON.stringify({ x402Version: 1, error: 'Payment failed', accepts: [requirement()] }),
    };
    const r = await x.pay({ usageId: 'u-6', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => refused });
    expect(r).toMatchObject({ kind: 'refused', reason: 'insufficient_funds' });
    expect(x.store.rows.get('u-6')).toMatchObject({ status: 'refused', errorReason: 'insufficient_funds' });
    expect(await code(x.pay({ usageId: 'u-6', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => settled() }))).toBe('already_refused');
    expect(x.signer.requests).toHaveLength(1);
  });

  it('a retry refused because the first, timed-out attempt settled is paid, not refused, and asks the chain', async () => {
    const used = new Set<string>();
    const x = payer({ used });
    const refusedAsUsed: HttpReply = { status: 402, headers: { 'x-payment-response': b64({ success: false, errorReason: 'invalid_exact_evm_payload_authorization_nonce', network: 'base-sepolia' }) }, body: '{}' };
    await expect(
      x.pay({ usageId: 'u-7', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => Promise.reject(new Error('timeout')) }),
    ).rejects.toThrow('timeout');
    used.add(x.store.rows.get('u-7')!.nonce); // the first attempt settled after all
    const r = await x.pay({ usageId: 'u-7', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => refusedAsUsed });
    expect(r).toMatchObject({ kind: 'paid', costMicros: 25_000n });
    expect(x.store.rows.get('u-7')!.status).toBe('settled');

    // Not used on chain: a genuine refusal.
    await expect(x.pay({ usageId: 'u-8', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => Promise.reject(new Error('timeout')) })).rejects.toThrow();
    expect(await x.pay({ usageId: 'u-8', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => refusedAsUsed })).toMatchObject({ kind: 'refused' });
    expect(x.signer.requests).toHaveLength(2);
  });

  it('a first attempt refused although its transfer went through (the facilitator timed out after submitting) is paid', async () => {
    const used = new Set<string>();
    const x = payer({ used });
    const timedOut: HttpReply = { status: 402, headers: { 'x-payment-response': b64({ success: false, errorReason: 'settle_timeout' }) }, body: '{}' };
    const r = await x.pay({
      usageId: 'u-10',
      agentId: 'ag',
      service: null,
      maxCostMicros: null,
      challenge: challengeV1(),
      resend: async () => (used.add(x.store.rows.get('u-10')!.nonce), timedOut),
    });
    expect(r).toMatchObject({ kind: 'paid', costMicros: 25_000n });
    expect(x.store.rows.get('u-10')!.status).toBe('settled');
  });

  it('without a way to ask the chain, a refused retry stays signed and is reported unknown', async () => {
    const x = payer();
    await expect(x.pay({ usageId: 'u-9', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => Promise.reject(new Error('timeout')) })).rejects.toThrow();
    const r = await x.pay({ usageId: 'u-9', agentId: 'ag', service: null, maxCostMicros: null, challenge: challengeV1(), resend: async () => ({ status: 402, headers: {}, body: '{}' }) });
    expect(r.kind).toBe('unknown');
    expect(x.store.rows.get('u-9')!.status).toBe('signed');
    expect(x.signer.requests).toHaveLength(1);
  });
});
