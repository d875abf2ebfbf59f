import { formatDollars4 } from '@platform/money';
import {
  choosePayable,
  HttpReply,
  parsePaymentRequired,
  paymentHeader,
  PaymentRequired,
  PaymentRequirement,
  PaySettings,
  readSettlement,
  Settlement,
  SignedAuthorization,
  X402Error,
} from './x402.protocol';

/**
 * Paying an upstream's x402 challenge for one call (one usage id), behind ports:
 *
 *   parse the 402 → choose a payable requirement → max_cost → policy → reserve the payment
 *   (usage id, nonce, validity) → signer (wallets) signs EIP-3009 for exactly that nonce →
 *   store the header → resend with X-PAYMENT / PAYMENT-SIGNATURE → read the settlement.
 *
 * One payment per usage id: the reservation (and its nonce) is written before anything is
 * signed, and a usage id's later attempts reuse it — the stored header once signed, else a
 * signature over the same nonce. EIP-3009 lets a nonce be used once per payer, so however
 * often a call is retried after a timeout, at most one transfer can ever settle for it.
 */

export type PaymentStatus = 'reserved' | 'signed' | 'settled' | 'accepted' | 'refused';

export interface X402Payment {
  usageId: string;
  agentId: string;
  x402Version: 1 | 2;
  network: string;
  asset: string;
  payTo: string;
  /** Atomic USDC = micro-USDC. */
  amountMicros: bigint;
  /** 0x-prefixed 32-byte hex, the EIP-3009 nonce. */
  nonce: string;
  validAfter: bigint;
  validBefore: bigint;
  /** What the header is built from: the version's resource and the requirement as received. */
  challenge: { resource: PaymentRequired['resource']; requirement: PaymentRequirement['raw']; scheme: string; network: string };
  headerName: string | null;
  headerValue: string | null;
  status: PaymentStatus;
  payer: string | null;
  transaction: string | null;
  errorReason: string | null;
}

export type NewReservation = Omit<X402Payment, 'headerName' | 'headerValue' | 'status' | 'payer' | 'transaction' | 'errorReason'>;

/** Where payments are kept (metering's x402_payments table in production). */
export interface X402PaymentStore {
  find(usageId: string): Promise<X402Payment | null>;
  /** Inserts the reservation unless the usage id has one; answers the stored row either way. */
  reserve(r: NewReservation): Promise<X402Payment>;
  /** reserved → signed with this header; answers the stored row (another replica's header if it signed first). */
  markSigned(usageId: string, header: { name: string; value: string }, payer: string): Promise<X402Payment>;
  /** signed → settled | accepted | refused; a row in any other state is left alone. */
  finish(usageId: string, outcome: { status: 'settled' | 'accepted' | 'refused'; transaction: string | null; payer: string | null; errorReason: string | null }): Promise<void>;
}

export interface Eip3009Request {
  agentId: string;
  to: string;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: string;
  /** For the wallet's records and policy: the call paid for and the service it goes to. */
  usageId: string;
  service: string | null;
}

/** Signs EIP-3009 authorizations with an agent's key; keys never leave the wallets service. */
export interface PaymentSigner {
  /** Throws SignerRefused when the wallet will not pay (policy, budget, deactivated). */
  authorize(r: Eip3009Request): Promise<SignedAuthorization>;
}

/** The wallet refused to sign: its policy or budget does not allow the payment (402 budget, 403 not allowed). */
export class SignerRefused extends Error {
  constructor(
    message: string,
    readonly status: 402 | 403 = 402,
  ) {
    super(message);
  }
}

/** The agent's spending policy (wallets): allowed services, per-call max, daily/monthly limits. */
export interface PaymentPolicy {
  check(q: { agentId: string; amountMicros: bigint; payTo: string; network: string; resource: string }): Promise<{ allowed: true } | { allowed: false; reason: string; status?: 402 | 403 }>;
}

export interface PayInput {
  usageId: string;
  agentId: string;
  /** The most the caller will pay for this call (spec 001 `max_cost`), or null for no cap. */
  maxCostMicros: bigint | null;
  /** The service paid for (a marketplace service id or the external API's host), for policies. */
  service: string | null;
  /** The upstream's 402. */
  challenge: HttpReply;
  /** Sends the original request again with the payment header added. */
  resend(header: { name: string; value: string }): Promise<HttpReply>;
}

/**
 * Whether an EIP-3009 authorization was used on chain (USDC's `authorizationState(from, nonce)`).
 * Tells, after a retry is refused, whether the first, timed-out attempt settled after all.
 */
export interface AuthorizationLedger {
  isUsed(payer: string, nonce: string): Promise<boolean>;
}

export type PayResult =
  | { kind: 'paid'; costMicros: bigint; settlement: Settlement | null; reply: HttpReply; payment: X402Payment }
  | { kind: 'refused'; reason: string; reply: HttpReply; payment: X402Payment }
  /**
   * A retry of a payment already sent once was refused, and nothing could tell whether the
   * first attempt settled: the payment stays `signed` (never signed again) for reconciliation.
   */
  | { kind: 'unknown'; reason: string; reply: HttpReply; payment: X402Payment };

/** How long before now an authorization becomes valid, for payers' and chains' clock skew (as x402's reference client does). */
const VALID_AFTER_SKEW_S = 600n;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;

export function createX402Payer(deps: {
  store: X402PaymentStore;
  signer: PaymentSigner;
  policy: PaymentPolicy;
  settings: PaySettings;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** A fresh 0x-prefixed 32-byte hex nonce. */
  nonce: () => string;
  /** Optional: settles the doubt after a refused retry (see PayResult 'unknown'). */
  authorizations?: AuthorizationLedger;
}) {
  const { store, signer, policy, settings } = deps;

  async function reserve(input: PayInput): Promise<X402Payment> {
    const required = parsePaymentRequired(input.challenge);
    const requirement = choosePayable(required, settings);
    if (!requirement) {
      const offered = required.accepts.map((r) => `${r.scheme}/${r.network}/${r.asset}`).join(', ') || 'nothing this client can read';
      throw new X402Error(
        'no_payable_requirement',
        `The upstream asks for a payment this platform cannot make: it accepts ${offered}; payable is exact/${settings.network} (eip155:${settings.chainId}) in USDC ${settings.asset}`,
      );
    }
    if (input.maxCostMicros !== null && requirement.amount > input.maxCostMicros) {
      throw new X402Error('over_max_cost', `the service charges ${formatDollars4(requirement.amount)}, more than max_cost (${formatDollars4(input.maxCostMicros)})`);
    }
    const verdict = await policy.check({
      agentId: input.agentId,
      amountMicros: requirement.amount,
      payTo: requirement.payTo,
      network: requirement.network,
      resource: requirement.resource,
    });
    if (!verdict.allowed) throw new X402Error('policy_refused', verdict.reason, verdict.status ?? 402);

    const nowS = BigInt(Math.floor(deps.now() / 1000));
    return store.reserve({
      usageId: input.usageId,
      agentId: input.agentId,
      x402Version: required.x402Version,
      network: requirement.network,
      asset: requirement.asset,
      payTo: requirement.payTo,
      amountMicros: requirement.amount,
      nonce: deps.nonce(),
      validAfter: nowS - VALID_AFTER_SKEW_S,
      validBefore: nowS + BigInt(requirement.maxTimeoutSeconds),
      challenge: { resource: required.resource, requirement: requirement.raw, scheme: requirement.scheme, network: requirement.network },
    });
  }

  async function sign(p: X402Payment, service: string | null): Promise<X402Payment> {
    let signed: SignedAuthorization;
    try {
      signed = await signer.authorize({ agentId: p.agentId, to: p.payTo, value: p.amountMicros, validAfter: p.validAfter, validBefore: p.validBefore, nonce: p.nonce, usageId: p.usageId, service });
    } catch (err) {
      if (err instanceof SignerRefused) throw new X402Error('policy_refused', err.message, err.status);
      throw new X402Error('signer_failed', `The agent's wallet could not sign the payment: ${err instanceof Error ? err.message : String(err)}`);
    }
    const a = signed.authorization;
    const same =
      ADDRESS.test(a?.from ?? '') &&
      a.to.toLowerCase() === p.payTo.toLowerCase() &&
      BigInt(a.value) === p.amountMicros &&
      BigInt(a.validAfter) === p.validAfter &&
      BigInt(a.validBefore) === p.validBefore &&
      a.nonce.toLowerCase() === p.nonce.toLowerCase() &&
      SIGNATURE.test(signed.signature ?? '');
    if (!same) throw new X402Error('bad_authorization', 'The wallet signed something other than the payment asked for; nothing was sent');
    const requirement = { ...(p.challenge.requirement as object) } as PaymentRequirement['raw'];
    const header = paymentHeader(
      { x402Version: p.x402Version, resource: p.challenge.resource },
      { scheme: p.challenge.scheme, network: p.challenge.network, raw: requirement } as PaymentRequirement,
      signed,
    );
    return store.markSigned(p.usageId, header, a.from);
  }

  return {
    /**
     * Pays the challenge for this usage id and answers the upstream's reply to the paid
     * request. A retry of the same usage id (after a timeout, a crash, or on another replica)
     * reuses its reservation and never signs a second nonce.
     */
    async pay(input: PayInput): Promise<PayResult> {
      let p = (await store.find(input.usageId)) ?? (await reserve(input));
      if (p.status === 'settled' || p.status === 'accepted') {
        throw new X402Error('already_settled', `Usage ${input.usageId} already paid ${p.amountMicros} micro-USDC over x402; it is not paid again`);
      }
      if (p.status === 'refused') {
        throw new X402Error('already_refused', `The upstream refused the payment of usage ${input.usageId} (${p.errorReason ?? 'no reason given'}); make a new call to pay again`);
      }
      // A payment already `signed` was sent before (and timed out, or its process died).
      const resent = p.status === 'signed';
      if (p.status === 'reserved') p = await sign(p, input.service);

      const reply = await input.resend({ name: p.headerName!, value: p.headerValue! });
      const settlement = readSettlement(reply);
      if (reply.status === 402 || settlement?.success === false) {
        const reason = settlement?.errorReason ?? 'the upstream did not accept the payment';
        // A resent authorization is refused once its nonce is used, i.e. when the first attempt
        // settled; a first attempt can be refused after its transfer went through too (the
        // facilitator timed out after submitting it). The chain, when it can be asked, decides.
        const settledBefore = deps.authorizations ? await deps.authorizations.isUsed(p.payer!, p.nonce) : resent ? undefined : false;
        if (settledBefore === undefined) return { kind: 'unknown', reason, reply, payment: p };
        if (!settledBefore) {
          await store.finish(p.usageId, { status: 'refused', transaction: settlement?.transaction || null, payer: settlement?.payer ?? p.payer, errorReason: reason });
          return { kind: 'refused', reason, reply, payment: { ...p, status: 'refused', errorReason: reason } };
        }
        await store.finish(p.usageId, { status: 'settled', transaction: null, payer: p.payer, errorReason: null });
        return { kind: 'paid', costMicros: p.amountMicros, settlement: null, reply, payment: { ...p, status: 'settled' } };
      }
      // The exact scheme transfers exactly the authorized value: that is the call's real cost.
      const status = settlement?.success ? 'settled' : 'accepted';
      const transaction = settlement?.transaction || null;
      await store.finish(p.usageId, { status, transaction, payer: settlement?.payer ?? p.payer, errorReason: null });
      return { kind: 'paid', costMicros: p.amountMicros, settlement, reply, payment: { ...p, status, transaction } };
    },
  };
}
export type X402Payer = ReturnType<typeof createX402Payer>;
