import http from 'node:http';
import { HDNodeWallet, keccak256, toUtf8Bytes, verifyTypedData, Wallet } from 'ethers';
import { verifyPrincipal, INTERNAL_PRINCIPAL_HEADER } from '@platform/auth';
import { TEST_SECRET } from '@platform/testing';

/** USDC's EIP-3009 typed data (FiatTokenV2): what agents sign and facilitators verify. */
export const TRANSFER_WITH_AUTHORIZATION = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

export interface Chain {
  chainId: number;
  network: string;
  usdc: string;
}
const domainOf = (c: Chain) => ({ name: 'USDC', version: '2', chainId: c.chainId, verifyingContract: c.usdc });

export async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
}

export async function listen(server: http.Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * TEST DOUBLE for wallets' internal signing route, which another issue builds: README
 * "Contracts" of metering specifies it. It signs with real keys (ethers), so the upstream
 * below verifies real EIP-712 signatures.
 */
export async function startSignerStandIn(chain: Chain, agents: Map<string, Wallet | HDNodeWallet>) {
  const calls: { agentId: string; body: Record<string, unknown> }[] = [];
  const server = http.createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const token = req.headers[INTERNAL_PRINCIPAL_HEADER];
    if (typeof token !== 'string' || verifyPrincipal(token, TEST_SECRET)?.kind !== 'internal') return send(403, { detail: 'internal route' });
    const m = /^\/internal\/agents\/([^/]+)\/eip3009-authorizations$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return send(404, { detail: 'No route' });
    const agentId = decodeURIComponent(m[1]);
    const body = await readJson(req);
    calls.push({ agentId, body });
    const wallet = agents.get(agentId);
    if (!wallet) return send(404, { detail: 'Agent wallet not found' });
    const authorization = {
      from: wallet.address,
      to: String(body.to),
      value: String(body.value),
      validAfter: String(body.valid_after),
      validBefore: String(body.valid_before),
      nonce: String(body.nonce),
    };
    const signature = await wallet.signTypedData(domainOf(chain), TRANSFER_WITH_AUTHORIZATION, authorization);
    send(201, { authorization, signature });
  });
  return { ...(await listen(server)), calls };
}

export interface X402UpstreamOptions {
  chain: Chain;
  version: 1 | 2;
  priceMicros: bigint;
  payTo: string;
  /** Hold the reply to the first paid request this long after settling it (a settlement "timeout"). */
  slowFirstPaidMs?: number;
}

/**
 * A local x402-protected API with its facilitator folded in: it answers 402 with the
 * requirements of its version, verifies the EIP-712 signature of the payment header,
 * checks payee, amount, validity window and that the nonce was never used (as USDC's
 * authorizationState does), then "settles" by marking the nonce used.
 */
export async function startX402Upstream(o: X402UpstreamOptions) {
  const used = new Set<string>();
  const seen: { headers: http.IncomingHttpHeaders }[] = [];
  let paidRequests = 0;
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
  let url = '';

  const requirement = () =>
    o.version === 1
      ? {
          scheme: 'exact',
          network: o.chain.network,
          maxAmountRequired: o.priceMicros.toString(),
          resource: `${url}/data`,
          description: 'Premium data',
          mimeType: 'application/json',
          payTo: o.payTo,
          maxTimeoutSeconds: 60,
          asset: o.chain.usdc,
          extra: { name: 'USDC', version: '2' },
        }
      : { scheme: 'exact', network: `eip155:${o.chain.chainId}`, amount: o.priceMicros.toString(), asset: o.chain.usdc, payTo: o.payTo, maxTimeoutSeconds: 60, extra: { name: 'USDC', version: '2' } };

  const server = http.createServer(async (req, res) => {
    seen.push({ headers: req.headers });
    const header = req.headers[o.version === 1 ? 'x-payment' : 'payment-signature'];
    const settlementHeader = o.version === 1 ? 'X-PAYMENT-RESPONSE' : 'PAYMENT-RESPONSE';
    const challenge = (error: string, extraHeaders: Record<string, string> = {}) => {
      if (o.version === 1) {
        res.writeHead(402, { 'content-type': 'application/json', ...extraHeaders });
        res.end(JSON.stringify({ x402Version: 1, error, accepts: [requirement()] }));
      } else {
        const required = { x402Version: 2, error, resource: { url: `${url}/data`, description: 'Premium data', mimeType: 'application/json' }, accepts: [requirement()] };
        res.writeHead(402, { 'content-type': 'application/json', 'PAYMENT-REQUIRED': b64(required), ...extraHeaders });
        res.end('{}');
      }
    };
    const refuse = (reason: string) => challenge(`Payment failed: ${reason}`, { [settlementHeader]: b64({ success: false, errorReason: reason, network: requirement().network }) });
    if (typeof header !== 'string') return challenge(`${o.version === 1 ? 'X-PAYMENT' : 'PAYMENT-SIGNATURE'} header is required`);

    let payment: { payload: { signature: string; authorization: Record<string, string> } };
    try {
      payment = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
    } catch {
      return refuse('invalid_payload');
    }
    const a = payment.payload?.authorization;
    const now = Math.floor(Date.now() / 1000);
    if (!a) return refuse('invalid_payload');
    if (verifyTypedData(domainOf(o.chain), TRANSFER_WITH_AUTHORIZATION, a, payment.payload.signature) !== a.from) return refuse('invalid_exact_evm_payload_signature');
    if (a.to.toLowerCase() !== o.payTo.toLowerCase()) return refuse('invalid_exact_evm_payload_recipient_mismatch');
    if (BigInt(a.value) < o.priceMicros) return refuse('invalid_exact_evm_payload_authorization_value');
    if (Number(a.validAfter) > now || Number(a.validBefore) < now) return refuse('invalid_exact_evm_payload_authorization_valid_window');
    if (used.has(a.nonce.toLowerCase())) return refuse('invalid_exact_evm_payload_authorization_nonce');
    used.add(a.nonce.toLowerCase());
    paidRequests++;
    if (paidRequests === 1 && o.slowFirstPaidMs) await new Promise((r) => setTimeout(r, o.slowFirstPaidMs));
    if (res.destroyed) return;
    res.writeHead(200, {
      'content-type': 'application/json',
      [settlementHeader]: b64({ success: true, transaction: keccak256(toUtf8Bytes(a.nonce)), network: requirement().network, payer: a.from }),
    });
    res.end(JSON.stringify({ data: 'premium', paid_by: a.from }));
  });
  const l = await listen(server);
  url = l.url;
  return { ...l, used, seen };
}
