import http from 'node:http';
import { Contract, JsonRpcProvider, Wallet, parseEther, toBeHex, verifyTypedData } from 'ethers';
import { listen, readJson } from './x402-stand-ins';

/**
 * TEST SUPPORT — an x402 facilitator and an x402-protected API on the local chain
 * (@platform/chain's Hardhat node and test USDC). Nothing here is faked: the facilitator
 * verifies the EIP-712 signature and the chain state, and settles by sending
 * `transferWithAuthorization` to the token, so a payment moves real (test) USDC.
 *
 * Facilitator HTTP API (coinbase/x402 "facilitator" shape):
 *   POST /verify {x402Version, paymentPayload, paymentRequirements} → {isValid, invalidReason?, payer}
 *   POST /settle (same body) → {success, errorReason?, transaction, network, payer}
 *   GET  /supported → {kinds: [{x402Version, scheme: "exact", network}]}
 * Settling the very payload it already settled (same nonce and signature) answers the first
 * settlement again instead of failing on the used nonce: a resource server that lost the
 * answer can ask twice, and the chain still moves once.
 */

const TRANSFER_WITH_AUTHORIZATION = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

const TOKEN_ABI = [
  'function balanceOf(address) view returns (uint256)',
  'function authorizationState(address, bytes32) view returns (bool)',
  'function eip712Domain() view returns (bytes1, string, string, uint256, address, bytes32, uint256[])',
  'function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature)',
];

interface Authorization {
  from: string;
  to: string;
  value: string;
  validAfter: string;
  validBefore: string;
  nonce: string;
}
interface PaymentPayload {
  x402Version: number;
  payload: { signature: string; authorization: Authorization };
}
type Requirement = Record<string, unknown> & { scheme: string; network: string; payTo: string; asset: string; maxAmountRequired?: string; amount?: string; extra?: { name?: string; version?: string } };

export interface Settlement {
  nonce: string;
  signature: string;
  transaction: string;
  from: string;
  to: string;
  value: bigint;
}

export interface LocalFacilitator {
  url: string;
  /** Every transfer this facilitator sent to the chain, in order. */
  settlements: Settlement[];
  /** How many /settle requests it answered (including repeats of one payload). */
  settleRequests: number;
  close(): Promise<void>;
}

/**
 * A facilitator with a gas wallet of its own. `delayFirstSettleMs` holds the answer to the
 * first settlement that long after its transfer is mined: the facilitator "times out" for the
 * resource server while the money has already moved.
 */
export async function startLocalFacilitator(o: { rpcUrl: string; chainId: number; usdcAddress: string; network: string; delayFirstSettleMs?: number }): Promise<LocalFacilitator> {
  const provider = new JsonRpcProvider(o.rpcUrl, o.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 50 });
  const gas = Wallet.createRandom().connect(provider);
  await provider.send('hardhat_setBalance', [gas.address, toBeHex(parseEther('10'))]);
  const usdc = new Contract(o.usdcAddress, TOKEN_ABI, gas);
  const [, name, version] = (await usdc.eip712Domain()) as [string, string, string];
  const domain = { name, version, chainId: o.chainId, verifyingContract: o.usdcAddress };
  const settlements: Settlement[] = [];
  const byNonce = new Map<string, Settlement>();
  let settleRequests = 0;
  let queue: Promise<unknown> = Promise.resolve();

  const required = (r: Requirement) => BigInt(r.amount ?? r.maxAmountRequired ?? '0');
  const repeatOf = (p: PaymentPayload) => {
    const s = byNonce.get(p.payload.authorization.nonce.toLowerCase());
    return s && s.signature.toLowerCase() === p.payload.signature.toLowerCase() ? s : null;
  };

  async function verify(p: PaymentPayload, r: Requirement): Promise<{ isValid: boolean; invalidReason?: string; payer?: string }> {
    const a = p?.payload?.authorization;
    if (!a || typeof p.payload.signature !== 'string') return { isValid: false, invalidReason: 'invalid_payload' };
    if (r.scheme !== 'exact' || (r.network !== o.network && r.network !== `eip155:${o.chainId}`)) return { isValid: false, invalidReason: 'unsupported_scheme', payer: a.from };
    if (r.asset.toLowerCase() !== o.usdcAddress.toLowerCase()) return { isValid: false, invalidReason: 'invalid_exact_evm_payload_asset', payer: a.from };
    if (repeatOf(p)) return { isValid: true, payer: a.from };
    let signer: string;
    try {
      signer = verifyTypedData(domain, TRANSFER_WITH_AUTHORIZATION, a, p.payload.signature);
    } catch {
      return { isValid: false, invalidReason: 'invalid_exact_evm_payload_signature', payer: a.from };
    }
    if (signer.toLowerCase() !== a.from.toLowerCase()) return { isValid: false, invalidReason: 'invalid_exact_evm_payload_signature', payer: a.from };
    if (a.to.toLowerCase() !== r.payTo.toLowerCase()) return { isValid: false, invalidReason: 'invalid_exact_evm_payload_recipient_mismatch', payer: a.from };
    if (BigInt(a.value) !== required(r)) return { isValid: false, invalidReason: 'invalid_exact_evm_payload_authorization_value', payer: a.from };
    const now = BigInt(Math.floor(Date.now() / 1000));
    if (BigInt(a.validAfter) > now || BigInt(a.validBefore) < now + 6n) return { isValid: false, invalidReason: 'invalid_exact_evm_payload_authorization_valid_window', payer: a.from };
    if (await usdc.authorizationState(a.from, a.nonce)) return { isValid: false, invalidReason: 'invalid_exact_evm_payload_authorization_nonce', payer: a.from };
    if (BigInt(await usdc.balanceOf(a.from)) < BigInt(a.value)) return { isValid: false, invalidReason: 'insufficient_funds', payer: a.from };
    return { isValid: true, payer: a.from };
  }

  async function settle(p: PaymentPayload, r: Requirement): Promise<Record<string, unknown>> {
    const a = p.payload.authorization;
    const again = repeatOf(p);
    if (again) return { success: true, transaction: again.transaction, network: r.network, payer: a.from };
    const v = await verify(p, r);
    if (!v.isValid) return { success: false, errorReason: v.invalidReason, transaction: '', network: r.network, payer: a.from };
    const tx = await usdc.transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, p.payload.signature);
    const receipt = await tx.wait();
    if (!receipt || receipt.status !== 1) return { success: false, errorReason: 'unexpected_settle_error', transaction: tx.hash, network: r.network, payer: a.from };
    const s: Settlement = { nonce: a.nonce.toLowerCase(), signature: p.payload.signature, transaction: receipt.hash, from: a.from, to: a.to, value: BigInt(a.value) };
    settlements.push(s);
    byNonce.set(s.nonce, s);
    return { success: true, transaction: receipt.hash, network: r.network, payer: a.from };
  }

  const server = http.createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method === 'GET' && req.url === '/supported') {
        return send(200, { kinds: [1, 2].map((x402Version) => ({ x402Version, scheme: 'exact', network: x402Version === 1 ? o.network : `eip155:${o.chainId}` })) });
      }
      const body = await readJson(req);
      const p = body.paymentPayload as PaymentPayload;
      const r = body.paymentRequirements as Requirement;
      if (!p || !r) return send(400, { error: 'paymentPayload and paymentRequirements are required' });
      if (req.method === 'POST' && req.url === '/verify') return send(200, await verify(p, r));
      if (req.method === 'POST' && req.url === '/settle') {
        settleRequests++;
        const first = settleRequests === 1;
        // One settlement at a time: two racing copies of a payload must not both reach the chain.
        const result = (await (queue = queue.then(() => settle(p, r)).catch((err) => ({ success: false, errorReason: String(err) })))) as Record<string, unknown>;
        if (first && o.delayFirstSettleMs) await new Promise((w) => setTimeout(w, o.delayFirstSettleMs));
        return send(200, result);
      }
      send(404, { error: 'no such route' });
    } catch (err) {
      send(500, { error: String(err) });
    }
  });
  const l = await listen(server);
  return {
    url: l.url,
    settlements,
    get settleRequests() {
      return settleRequests;
    },
    async close() {
      await l.close();
      provider.destroy();
    },
  };
}

export interface X402Api {
  url: string;
  /** Requests that reached it, with the payment header they carried (if any). */
  requests: { method: string; path: string; paid: boolean; body: string }[];
  close(): Promise<void>;
}

/**
 * An x402-protected API (a resource server): every request without a payment answers 402 with
 * the requirements of its version (v1 JSON body, or v2 PAYMENT-REQUIRED header); a payment is
 * verified and settled through the facilitator, then the API answers 200 with a settlement
 * header. It waits for the facilitator up to `facilitatorTimeoutMs`; past that it answers 402
 * with `success: false, errorReason: "settle_timeout"`.
 */
export async function startX402Api(o: {
  facilitatorUrl: string;
  version: 1 | 2;
  network: string;
  chainId: number;
  asset: string;
  priceMicros: bigint;
  payTo: string;
  facilitatorTimeoutMs?: number;
}): Promise<X402Api> {
  const requests: X402Api['requests'] = [];
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
  let url = '';
  const extra = { name: 'USD Coin', version: '2' };
  const requirement = (path: string): Requirement =>
    o.version === 1
      ? { scheme: 'exact', network: o.network, maxAmountRequired: o.priceMicros.toString(), resource: `${url}${path}`, description: 'Search results', mimeType: 'application/json', payTo: o.payTo, maxTimeoutSeconds: 120, asset: o.asset, extra }
      : { scheme: 'exact', network: `eip155:${o.chainId}`, amount: o.priceMicros.toString(), asset: o.asset, payTo: o.payTo, maxTimeoutSeconds: 120, extra };

  const facilitator = async (path: string, body: unknown) => {
    const r = await fetch(`${o.facilitatorUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(o.facilitatorTimeoutMs ?? 30_000),
    });
    return (await r.json()) as Record<string, unknown>;
  };

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = req.url ?? '/';
    const header = req.headers[o.version === 1 ? 'x-payment' : 'payment-signature'];
    requests.push({ method: req.method ?? '', path, paid: typeof header === 'string', body: Buffer.concat(chunks).toString('utf8') });
    const settlementHeader = o.version === 1 ? 'X-PAYMENT-RESPONSE' : 'PAYMENT-RESPONSE';
    const challenge = (error: string, extraHeaders: Record<string, string> = {}) => {
      if (res.destroyed) return;
      if (o.version === 1) {
        res.writeHead(402, { 'content-type': 'application/json', ...extraHeaders });
        res.end(JSON.stringify({ x402Version: 1, error, accepts: [requirement(path)] }));
      } else {
        const required = { x402Version: 2, error, resource: { url: `${url}${path}`, description: 'Search results', mimeType: 'application/json' }, accepts: [requirement(path)] };
        res.writeHead(402, { 'content-type': 'application/json', 'PAYMENT-REQUIRED': b64(required), ...extraHeaders });
        res.end('{}');
      }
    };
    if (typeof header !== 'string') return challenge(`${o.version === 1 ? 'X-PAYMENT' : 'PAYMENT-SIGNATURE'} header is required`);
    let paymentPayload: PaymentPayload;
    try {
      paymentPayload = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
    } catch {
      return challenge('invalid payment header', { [settlementHeader]: b64({ success: false, errorReason: 'invalid_payload' }) });
    }
    const body = { x402Version: o.version, paymentPayload, paymentRequirements: requirement(path) };
    try {
      const verified = await facilitator('/verify', body);
      if (!verified.isValid) return challenge(`payment invalid: ${verified.invalidReason}`, { [settlementHeader]: b64({ success: false, errorReason: verified.invalidReason, payer: verified.payer }) });
      const settled = await facilitator('/settle', body);
      if (!settled.success) return challenge(`settlement failed: ${settled.errorReason}`, { [settlementHeader]: b64(settled) });
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json', [settlementHeader]: b64(settled) });
      res.end(JSON.stringify({ results: [{ title: 'Attention Is All You Need', url: 'https://arxiv.org/abs/1706.03762' }], path, received: Buffer.concat(chunks).toString('utf8') || null }));
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError';
      challenge(timeout ? 'settlement timed out' : 'facilitator unavailable', { [settlementHeader]: b64({ success: false, errorReason: timeout ? 'settle_timeout' : 'facilitator_unavailable' }) });
    }
  });
  const l = await listen(server);
  url = l.url;
  return { ...l, requests };
}

/** Micro-USDC of an address on the local token. */
export async function usdcBalance(rpcUrl: string, usdcAddress: string, address: string): Promise<bigint> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  try {
    return BigInt(await new Contract(usdcAddress, TOKEN_ABI, provider).balanceOf(address));
  } finally {
    provider.destroy();
  }
}
