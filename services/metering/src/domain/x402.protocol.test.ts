import { choosePayable, parsePaymentRequired, paymentHeader, readSettlement, X402Error } from './x402.protocol';

const USDC = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
const decode = (v: string) => JSON.parse(Buffer.from(v, 'base64').toString('utf8'));
const settings = { network: 'base-sepolia', chainId: 84532, asset: USDC };

/** The v1 402 body of the x402 HTTP transport spec (transports-v1/http.md). */
const v1Body = {
  x402Version: 1,
  error: 'X-PAYMENT header is required',
  accepts: [
    {
      scheme: 'exact',
      network: 'base-sepolia',
      maxAmountRequired: '10000',
      resource: 'https://api.example.com/premium-data',
      description: 'Access to premium market data',
      mimeType: 'application/json',
      payTo: PAY_TO,
      maxTimeoutSeconds: 60,
      asset: USDC,
      outputSchema: null,
      extra: { name: 'USDC', version: '2' },
    },
  ],
};

/** The v2 PaymentRequired of transports-v2/http.md, sent base64 in PAYMENT-REQUIRED. */
const v2Required = {
  x402Version: 2,
  error: 'PAYMENT-SIGNATURE header is required',
  resource: { url: 'https://api.example.com/premium-data', description: 'Access to premium market data', mimeType: 'application/json' },
  accepts: [{ scheme: 'exact', network: 'eip155:84532', amount: '10000', asset: USDC, payTo: PAY_TO, maxTimeoutSeconds: 60, extra: { name: 'USDC', version: '2' } }],
};

const signed = {
  signature: `0x${'2d'.repeat(65)}`,
  authorization: { from: '0x857b06519E91e3A54538791bDbb0E22373e36b66', to: PAY_TO, value: '10000', validAfter: '1740672089', validBefore: '1740672154', nonce: `0x${'f3'.repeat(32)}` },
};

describe('parsePaymentRequired', () => {
  it('reads a version 1 body', () => {
    const r = parsePaymentRequired({ status: 402, headers: { 'content-type': 'application/json' }, body: JSON.stringify(v1Body) });
    expect(r.x402Version).toBe(1);
    expect(r.error).toBe('X-PAYMENT header is required');
    expect(r.resource).toBeNull();
    expect(r.accepts).toEqual([
      {
        scheme: 'exact',
        network: 'base-sepolia',
        amount: 10_000n,
        asset: USDC,
        payTo: PAY_TO,
        resource: 'https://api.example.com/premium-data',
        description: 'Access to premium market data',
        mimeType: 'application/json',
        maxTimeoutSeconds: 60,
        extra: { name: 'USDC', version: '2' },
        raw: v1Body.accepts[0],
      },
    ]);
  });

  it('reads a version 2 PAYMENT-REQUIRED header, which wins over the body', () => {
    const r = parsePaymentRequired({ status: 402, headers: { 'payment-required': b64(v2Required) }, body: JSON.stringify(v1Body) });
    expect(r.x402Version).toBe(2);
    expect(r.resource).toEqual(v2Required.resource);
    expect(r.accepts).toHaveLength(1);
    expect(r.accepts[0]).toMatchObject({ scheme: 'exact', network: 'eip155:84532', amount: 10_000n, payTo: PAY_TO, resource: 'https://api.example.com/premium-data', raw: v2Required.accepts[0] });
  });

  it('skips requirements it cannot read and keeps the rest', () => {
    const body = { ...v1Body, accepts: [{ scheme: 'exact', network: 'base-sepolia' }, { ...v1Body.accepts[0], maxAmountRequired: '1.5' }, v1Body.accepts[0]] };
    expect(parsePaymentRequired({ status: 402, headers: {}, body: Buffer.from(JSON.stringify(body)) }).accepts).toHaveLength(1);
  });

  it('tells a plain 402 from a malformed x402 challenge', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as X402Error).code;
      }
      return 'none';
    };
    expect(code(() => parsePaymentRequired({ status: 200, headers: {}, body: '{}' }))).toBe('not_x402');
    expect(code(() => parsePaymentRequired({ status: 402, headers: {}, body: 'pay up' }))).toBe('not_x402');
    expect(code(() => parsePaymentRequired({ status: 402, headers: {}, body: '{"detail":"Insufficient balance"}' }))).toBe('not_x402');
    expect(code(() => parsePaymentRequired({ status: 402, headers: {}, body: '{"x402Version":1,"accepts":"no"}' }))).toBe('malformed_challenge');
    expect(code(() => parsePaymentRequired({ status: 402, headers: { 'payment-required': 'bm90IGpzb24=' }, body: null }))).toBe('malformed_challenge');
    expect(code(() => parsePaymentRequired({ status: 402, headers: { 'payment-required': b64({ x402Version: 3, accepts: [] }) }, body: null }))).toBe('malformed_challenge');
  });
});

describe('choosePayable', () => {
  const base = v1Body.accepts[0];
  const required = (accepts: object[]) => parsePaymentRequired({ status: 402, headers: {}, body: JSON.stringify({ x402Version: 1, accepts }) });

  it('takes the first exact requirement on the configured network in the configured USDC', () => {
    const r = required([
      { ...base, scheme: 'upto' },
      { ...base, network: 'base' },
      { ...base, asset: '0x0000000000000000000000000000000000000001' },
      { ...base, maxAmountRequired: '0' },
      { ...base, payTo: 'not-an-address' },
      { ...base, maxAmountRequired: '777', asset: USDC.toLowerCase() },
      { ...base, maxAmountRequired: '5' },
    ]);
    expect(choosePayable(r, settings)?.amount).toBe(777n);
  });

  it('accepts the CAIP-2 name of the configured chain and answers null when nothing fits', () => {
    const v2 = parsePaymentRequired({ status: 402, headers: { 'payment-required': b64(v2Required) }, body: null });
    expect(choosePayable(v2, settings)?.network).toBe('eip155:84532');
    expect(choosePayable(v2, { ...settings, chainId: 8453, network: 'base' })).toBeNull();
  });
});

describe('paymentHeader', () => {
  it('builds X-PAYMENT for version 1 as the exact scheme on EVM shows it', () => {
    const r = parsePaymentRequired({ status: 402, headers: {}, body: JSON.stringify(v1Body) });
    const h = paymentHeader(r, r.accepts[0], signed);
    expect(h.name).toBe('x-payment');
    expect(decode(h.value)).toEqual({ x402Version: 1, scheme: 'exact', network: 'base-sepolia', payload: signed });
  });

  it('builds PAYMENT-SIGNATURE for version 2 with the resource and the accepted requirement echoed', () => {
    const r = parsePaymentRequired({ status: 402, headers: { 'payment-required': b64(v2Required) }, body: null });
    const h = paymentHeader(r, r.accepts[0], signed);
    expect(h.name).toBe('payment-signature');
    expect(decode(h.value)).toEqual({ x402Version: 2, resource: v2Required.resource, accepted: v2Required.accepts[0], payload: signed });
  });
});

describe('readSettlement', () => {
  const ok = { success: true, transaction: `0x${'12'.repeat(32)}`, network: 'eip155:84532', payer: signed.authorization.from };
  it('reads PAYMENT-RESPONSE and X-PAYMENT-RESPONSE', () => {
    expect(readSettlement({ headers: { 'payment-response': b64(ok) } })).toEqual(ok);
    expect(readSettlement({ headers: { 'x-payment-response': b64({ success: false, errorReason: 'insufficient_funds', transaction: '', network: 'base-sepolia' }) } })).toMatchObject({
      success: false,
      errorReason: 'insufficient_funds',
    });
  });
  it('answers null when absent or unreadable', () => {
    expect(readSettlement({ headers: {} })).toBeNull();
    expect(readSettlement({ headers: { 'payment-response': 'bm90IGpzb24=' } })).toBeNull();
    expect(readSettlement({ headers: { 'payment-response': b64({ transaction: '0x1' }) } })).toBeNull();
  });
});
