/**
 * The ledger's vocabulary and the rules every entry obeys, free of any database. Amounts are
 * integers in the account's currency unit: micro-USDC for USDC, whole credits for CREDIT.
 */
export const ACCOUNT_KINDS = [
  /** A buyer's prepaid balance; what metering debits per call. Never negative. */
  'buyer_balance',
  /** What the platform owes a provider for calls paid from balances; settlements pays it out. */
  'provider_payable',
  /** The platform's fees (settlements, a later issue). */
  'platform_revenue',
  /** Contra account of money entering from outside (dev funding, on-chain deposits); goes negative. */
  'external_funding',
  /** Credits an owner can spend (spec 000). Never negative. */
  'credits',
  /** Contra account of credits the platform gave away (onboarding grants); goes negative. */
  'credit_grants',
  /** Contra account of credits sold through Stripe (credit packs); goes negative. */
  'credit_sales',
  /** Credits an owner has used up (validate calls, incidents, webhooks); only grows. */
  'credit_usage',
  /**
   * An agent wallet (owner = agent id) as far as the platform moved money through it: fundings
   * in, session deposits and payments out. The chain holds the truth (money sent to the
   * address directly is not here), so it is not guarded. Also ETH (gwei) for sponsored gas.
   */
  'agent_wallet',
  /** A payment session's deposit held by the treasury (owner = session id); debited per call. Never negative. */
  'session_balance',
  /** Contra account of gas (ETH, gwei) the treasury gave agents; goes negative. */
  'platform_gas',
  /**
   * A balance lease (owner = lease id, USDC): the slice of a buyer's prepaid balance metering
   * took once and spends call by call; lease debits take from it, the close gives the rest
   * back to buyer_balance. Still the buyer's money while open. Never negative.
   */
  'balance_lease',
] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

/** ETH amounts are gwei (gas sponsorship); wei would overflow BIGINT sums. */
export const CURRENCIES = ['USDC', 'CREDIT', 'ETH'] as const;
export type Currency = (typeof CURRENCIES)[number];

export const ENTRY_KINDS = ['fund', 'payment', 'refund', 'credit_grant', 'credit_purchase', 'credit_consumption', 'drain', 'session_deposit', 'session_refund', 'gas_sponsor', 'lease', 'lease_release'] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

/** Kinds debited only by a conditional UPDATE; the migration's CHECK constraint mirrors this set. */
export const NON_NEGATIVE_KINDS: ReadonlySet<AccountKind> = new Set<AccountKind>(['buyer_balance', 'credits', 'session_balance', 'balance_lease']);

export interface AccountRef {
  ownerId: string;
  kind: AccountKind;
  currency: Currency;
}

export interface PostingInput {
  account: AccountRef;
  /** Signed: negative takes from the account, positive adds to it. */
  amount: bigint;
}

export class UnbalancedEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnbalancedEntryError';
  }
}

export const accountKey = (a: AccountRef): string => `${a.ownerId}\u0000${a.kind}\u0000${a.currency}`;

/** Double entry: two or more postings on distinct accounts of one currency, none zero, summing to zero. */
export function assertBalanced(postings: readonly PostingInput[]): void {
  if (postings.length < 2) throw new UnbalancedEntryError('an entry needs at least two postings');
  const currencies = new Set(postings.map((p) => p.account.currency));
  if (currencies.size !== 1) throw new UnbalancedEntryError('the postings of an entry must share one currency');
  if (new Set(postings.map((p) => accountKey(p.account))).size !== postings.length) {
    throw new UnbalancedEntryError('an entry posts to each account at most once');
  }
  if (postings.some((p) => p.amount === 0n)) throw new UnbalancedEntryError('a posting amount cannot be zero');
  const sum = postings.reduce((s, p) => s + p.amount, 0n);
  if (sum !== 0n) throw new UnbalancedEntryError(`postings sum to ${sum}, not zero`);
}

/**
 * The order in which an entry's accounts are locked. Every transaction locks in this one
 * global order, so two entries touching the same accounts (a debit and a refund of the same
 * buyer and provider) can never deadlock.
 */
export function lockOrder<P extends PostingInput>(postings: readonly P[]): P[] {
  return [...postings].sort((a, b) => (accountKey(a.account) < accountKey(b.account) ? -1 : accountKey(a.account) > accountKey(b.account) ? 1 : 0));
}
