import { assertBalanced, lockOrder, PostingInput, UnbalancedEntryError } from './ledger';

const usdc = (ownerId: string, kind: PostingInput['account']['kind'], amount: bigint): PostingInput => ({ account: { ownerId, kind, currency: 'USDC' }, amount });

describe('double-entry rules', () => {
  it('accepts postings on distinct accounts of one currency that sum to zero', () => {
    expect(() => assertBalanced([usdc('b', 'buyer_balance', -5n), usdc('p', 'provider_payable', 3n), usdc('platform', 'platform_revenue', 2n)])).not.toThrow();
  });

  it.each([
    ['a single posting', [usdc('b', 'buyer_balance', 5n)], /at least two/],
    ['a non-zero sum', [usdc('b', 'buyer_balance', -5n), usdc('p', 'provider_payable', 4n)], /sum to -1/],
    ['a zero posting', [usdc('b', 'buyer_balance', 0n), usdc('p', 'provider_payable', 0n)], /cannot be zero/],
    ['the same account twice', [usdc('b', 'buyer_balance', -5n), usdc('b', 'buyer_balance', 5n)], /at most once/],
    [
      'mixed currencies',
      [usdc('b', 'buyer_balance', -5n), { account: { ownerId: 'b', kind: 'credits', currency: 'CREDIT' }, amount: 5n } as PostingInput],
      /one currency/,
    ],
  ])('refuses %s', (_name, postings, message) => {
    expect(() => assertBalanced(postings)).toThrow(UnbalancedEntryError);
    expect(() => assertBalanced(postings)).toThrow(message);
  });

  it('locks accounts in one global order whatever the order of the postings', () => {
    const debit = [usdc('zed', 'buyer_balance', -1n), usdc('amy', 'provider_payable', 1n)];
    const refund = [usdc('amy', 'provider_payable', -1n), usdc('zed', 'buyer_balance', 1n)];
    const order = (ps: PostingInput[]) => lockOrder(ps).map((p) => `${p.account.ownerId}/${p.account.kind}`);
    expect(order(debit)).toEqual(['amy/provider_payable', 'zed/buyer_balance']);
    expect(order(refund)).toEqual(order(debit));
    // The same owner's accounts are ordered by kind.
    expect(order([usdc('x', 'external_funding', -1n), usdc('x', 'buyer_balance', 1n)])).toEqual(['x/buyer_balance', 'x/external_funding']);
  });
});
