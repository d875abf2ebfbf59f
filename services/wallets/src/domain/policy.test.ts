import { checkBudget, checkCall, Policy, serviceMatches, spendPeriods } from './policy';

const policy = (p: Partial<Policy> = {}): Policy => ({
  spendingCap: null,
  dailyLimit: null,
  monthlyLimit: null,
  perCallMax: null,
  allowedServices: [],
  blockedServices: [],
  requireSession: false,
  ...p,
});

describe('agent policy', () => {
  it.each([
    ['exa', 'exa', true],
    ['exa', 'exa.ai', true],
    ['exa', 'api.exa.ai', true],
    ['exa.ai', 'api.exa.ai', true],
    ['EXA', 'Exa.AI', true],
    ['exa', 'texas.com', false],
    ['openai', 'exa.ai', false],
    ['exa.ai', 'exa', false],
  ])('entry %s matches service %s: %s', (entry, service, expected) => {
    expect(serviceMatches(entry, service)).toBe(expected);
  });

  it('checks blocked before allowed, then session and per-call max', () => {
    const p = policy({ allowedServices: ['exa', 'openai'], blockedServices: ['openai'], perCallMax: 500_000n, requireSession: true });
    expect(checkCall(p, { service: 'api.openai.com' }).code).toBe('service_blocked');
    expect(checkCall(p, { service: 'anthropic.com' }).code).toBe('service_not_allowed');
    expect(checkCall(p, { service: 'exa.ai', withSession: false }).code).toBe('session_required');
    expect(checkCall(p, { service: 'exa.ai', withSession: true, amountMicros: 500_001n }).code).toBe('per_call_max');
    expect(checkCall(p, { service: 'exa.ai', withSession: true, amountMicros: 500_000n })).toEqual({ allowed: true, code: 'ok', reason: null });
    expect(checkCall(policy(), { service: 'anything' }).allowed).toBe(true);
  });

  it('keeps spend within the cap and the daily and monthly limits, inclusive', () => {
    const p = policy({ spendingCap: 100n, dailyLimit: 10n, monthlyLimit: 50n });
    expect(checkBudget(p, { total: 90n, day: 0n, month: 0n }, 10n).allowed).toBe(true);
    expect(checkBudget(p, { total: 91n, day: 0n, month: 0n }, 10n).code).toBe('spending_cap');
    expect(checkBudget(p, { total: 0n, day: 5n, month: 0n }, 6n).code).toBe('daily_limit');
    expect(checkBudget(p, { total: 0n, day: 0n, month: 45n }, 6n).code).toBe('monthly_limit');
  });

  it('counts a spend towards its UTC day and month', () => {
    expect(spendPeriods(policy({ dailyLimit: 1n }), new Date('2026-03-31T23:59:59Z')).map((p) => p.period)).toEqual(['total', 'd:2026-03-31', 'm:2026-03']);
  });
});
