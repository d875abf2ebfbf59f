import { z } from 'zod';

/**
 * The x402 wire formats (coinbase/x402 specs: transports-v1/http.md, transports-v2/http.md,
 * schemes/exact/scheme_exact_evm.md). Pure functions: parsing a 402, encoding the payment
 * header, decoding the settlement header. No I/O.
 *
 *   v1: 402 body {x402Version: 1, error, accepts: [{scheme, network, maxAmountRequired,
 *       resource, description, mimeType, payTo, maxTimeoutSeconds, asset, extra}]};
 *       pay with X-PAYMENT; settlement in X-PAYMENT-RESPONSE.
 *   v2: 402 header PAYMENT-REQUIRED = base64 JSON {x402Version: 2, error, resource: {url,
 *       description, mimeType}, accepts: [{scheme, network (CAIP-2), amount, asset, payTo,
 *       maxTimeoutSeconds, extra}]}; pay with PAYMENT-SIGNATURE; settlement in PAYMENT-RESPONSE.
 */

export const PAYMENT_REQUIRED_HEADER = 'payment-required';
export const X_PAYMENT_HEADER = 'x-payment';
export const PAYMENT_SIGNATURE_HEADER = 'payment-signature';
export const X_PAYMENT_RESPONSE_HEADER = 'x-payment-response';
export const PAYMENT_RESPONSE_HEADER = 'payment-response';

export class X402Error extends Error {
  constructor(
    readonly code:
      | 'not_x402'
      | 'malformed_challenge'
      | 'no_payable_requirement'
      | 'over_max_cost'
      | 'policy_refused'
      | 'signer_failed'
      | 'bad_authorization'
      | 'already_settled'
      | 'already_refused'
      | 'requirement_changed',
    message: string,
    /** For policy_refused: 402 when the budget is short, 403 when the payment is not allowed at all. */
    readonly status: 402 | 403 = 402,
  ) {
    super(message);
    this.name = 'X402Error';
  }
}

/** Atomic token units as a decimal string (uint256). */
const atomic = z.string().regex(/^\d{1,78}$/, 'must be an integer amount in atomic units');
const extra = z.record(z.string(), z.unknown()).nullish();

const v1Requirement = z.object({
  scheme: z.string().min(1),
  network: z.string().min(1),
  maxAmountRequired: atomic,
  resource: z.string(),
  description: z.string().default(''),
  mimeType: z.string().default(''),
  payTo: z.string().min(1),
  maxTimeoutSeconds: z.number().int().positive(),
  asset: z.string().min(1),
  extra,
});
const v1Challenge = z.object({
  x402Version: z.literal(1),
  error: z.string().nullish(),
  accepts: z.array(z.unknown()),
});

const v2Requirement = z.object({
  scheme: z.string().min(1),
  network: z.string().min(1),
  amount: atomic,
  asset: z.string().min(1),
  payTo: z.string().min(1),
  maxTimeoutSeconds: z.number().int().positive(),
  extra,
});
const v2Resource = z.object({ url: z.string(), description: z.string().default(''), mimeType: z.string().default('') });
const v2Challenge = z.object({
  x402Version: z.literal(2),
  error: z.string().nullish(),
  resource: v2Resource.nullish(),
  accepts: z.array(z.unknown()),
});

/** One way to pay, the same shape whichever version announced it. */
export interface PaymentRequirement {
  scheme: string;
  network: string;
  /** Atomic units of `asset` (for USDC, 6 decimals: micro-USDC). */
  amount: bigint;
  asset: string;
  payTo: string;
  resource: string;
  description: string;
  mimeType: string;
  maxTimeoutSeconds: number;
  extra: Record<string, unknown> | null;
  /** The object exactly as the server sent it; v2 echoes it back as `accepted`. */
  raw: Record<string, unknown>;
}

export interface PaymentRequired {
  x402Version: 1 | 2;
  error: string | null;
  /** v2's top-level resource; v1 carries it per requirement. */
  resource: { url: string; description: string; mimeType: string } | null;
  /** The requirements this client understands; entries of unknown shape are skipped. */
  accepts: PaymentRequirement[];
}

export interface HttpReply {
  status: number;
  /** Lower-case names, as node:http gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | string | null;
}

const headerOf = (h: HttpReply['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

function decodeBase64Json(value: string, what: string): unknown {
  const text = Buffer.from(value.trim(), 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new X402Error('malformed_challenge', `${what} is not base64-encoded JSON`);
  }
}

function describe(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * Reads an upstream 402 as x402 payment requirements: the v2 PAYMENT-REQUIRED header wins
 * when present, else a v1 JSON body. Throws X402Error('not_x402') for any other 402.
 */
export function parsePaymentRequired(reply: HttpReply): PaymentRequired {
  if (reply.status !== 402) throw new X402Error('not_x402', `the upstream answered ${reply.status}, not 402`);
  const header = headerOf(reply.headers, PAYMENT_REQUIRED_HEADER);
  if (header) {
    const parsed = v2Challenge.safeParse(decodeBase64Json(header, 'PAYMENT-REQUIRED'));
    if (!parsed.success) throw new X402Error('malformed_challenge', `PAYMENT-REQUIRED is not an x402 v2 PaymentRequired: ${describe(parsed.error)}`);
    const c = parsed.data;
    const resource = c.resource ? { url: c.resource.url, description: c.resource.description, mimeType: c.resource.mimeType } : null;
    const accepts = c.accepts.flatMap((raw) => {
      const r = v2Requirement.safeParse(raw);
      if (!r.success) return [];
      return [
        {
          scheme: r.data.scheme,
          network: r.data.network,
          amount: BigInt(r.data.amount),
          asset: r.data.asset,
          payTo: r.data.payTo,
          resource: resource?.url ?? '',
          description: resource?.description ?? '',
          mimeType: resource?.mimeType ?? '',
          maxTimeoutSeconds: r.data.maxTimeoutSeconds,
          extra: r.data.extra ?? null,
          raw: raw as Record<string, unknown>,
        },
      ];
    });
    return { x402Version: 2, error: c.error ?? null, resource, accepts };
  }

  const text = reply.body === null ? '' : reply.body.toString();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new X402Error('not_x402', 'the upstream answered 402 without x402 payment requirements (no PAYMENT-REQUIRED header, body not JSON)');
  }
  if ((json as { x402Version?: unknown })?.x402Version === undefined) {
    throw new X402Error('not_x402', 'the upstream answered 402 without x402 payment requirements (no x402Version)');
  }
  const parsed = v1Challenge.safeParse(json);
  if (!parsed.success) throw new X402Error('malformed_challenge', `the 402 body is not an x402 v1 payment requirements response: ${describe(parsed.error)}`);
  const accepts = parsed.data.accepts.flatMap((raw) => {
    const r = v1Requirement.safeParse(raw);
    if (!r.success) return [];
    return [
      {
        scheme: r.data.scheme,
        network: r.data.network,
        amount: BigInt(r.data.maxAmountRequired),
        asset: r.data.asset,
        payTo: r.data.payTo,
        resource: r.data.resource,
        description: r.data.description,
        mimeType: r.data.mimeType,
        maxTimeoutSeconds: r.data.maxTimeoutSeconds,
        extra: r.data.extra ?? null,
        raw: raw as Record<string, unknown>,
      },
    ];
  });
  return { x402Version: 1, error: parsed.data.error ?? null, resource: null, accepts };
}

export interface PaySettings {
  /** x402 v1 network name, e.g. "base-sepolia". */
  network: string;
  chainId: number;
  /** The USDC contract address. */
  asset: string;
}

const EVM_ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * The first requirement this platform can pay: scheme `exact`, the configured network (its
 * v1 name or CAIP-2 `eip155:<chainId>`), the configured USDC, a positive amount and an EVM
 * address to pay. Answers null when there is none.
 */
export function choosePayable(required: PaymentRequired, s: PaySettings): PaymentRequirement | null {
  const caip2 = `eip155:${s.chainId}`;
  return (
    required.accepts.find(
      (r) =>
        r.scheme === 'exact' &&
        (r.network === s.network || r.network === caip2) &&
        r.asset.toLowerCase() === s.asset.toLowerCase() &&
        r.amount > 0n &&
        EVM_ADDRESS.test(r.payTo),
    ) ?? null
  );
}

/** EIP-3009 transferWithAuthorization parameters, as the exact scheme's payload carries them. */
export interface Eip3009Authorization {
  from: string;
  to: string;
  value: string;
  validAfter: string;
  validBefore: string;
  nonce: string;
}

export interface SignedAuthorization {
  authorization: Eip3009Authorization;
  signature: string;
}

/** The request header that carries a payment, and its base64 value, for the challenge's version. */
export function paymentHeader(required: Pick<PaymentRequired, 'x402Version' | 'resource'>, requirement: PaymentRequirement, signed: SignedAuthorization): { name: string; value: string } {
  const payload = { signature: signed.signature, authorization: signed.authorization };
  const body =
    required.x402Version === 1
      ? { x402Version: 1, scheme: requirement.scheme, network: requirement.network, payload }
      : { x402Version: 2, ...(required.resource ? { resource: required.resource } : {}), accepted: requirement.raw, payload };
  return {
    name: required.x402Version === 1 ? X_PAYMENT_HEADER : PAYMENT_SIGNATURE_HEADER,
    value: Buffer.from(JSON.stringify(body), 'utf8').toString('base64'),
  };
}

const settlementSchema = z.object({
  success: z.boolean(),
  errorReason: z.string().nullish(),
  transaction: z.string().nullish(),
  network: z.string().nullish(),
  payer: z.string().nullish(),
});
export type Settlement = z.infer<typeof settlementSchema>;

/** The settlement result from X-PAYMENT-RESPONSE (v1) or PAYMENT-RESPONSE (v2); null when absent or unreadable. */
export function readSettlement(reply: Pick<HttpReply, 'headers'>): Settlement | null {
  const raw = headerOf(reply.headers, PAYMENT_RESPONSE_HEADER) ?? headerOf(reply.headers, X_PAYMENT_RESPONSE_HEADER);
  if (!raw) return null;
  try {
    const parsed = settlementSchema.safeParse(decodeBase64Json(raw, 'the settlement header'));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
