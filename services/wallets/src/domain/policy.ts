/**
 * Spec 001 agent policy rules, free of any I/O. Amounts are micro-USDC; null means "no limit".
 */
export interface Policy {
  spendingCap: bigint | null;
  dailyLimit: bigint | null;
  monthlyLimit: bigint | null;
  perCallMax: bigint | null;
  allowedServices: string[];
  blockedServices: string[];
  requireSession: boolean;
}

export type PolicyCode =
  | 'ok'
  | 'agent_inactive'
  | 'service_blocked'
  | 'service_not_allowed'
  | 'session_required'
  | 'per_call_max'
  | 'spending_cap'
  | 'daily_limit'
  | 'monthly_limit';

export interface Verdict {
  allowed: boolean;
  code: PolicyCode;
  reason: string | null;
}

const ok: Verdict = { allowed: true, code: 'ok', reason: null };
const no = (code: PolicyCode, reason: string): Verdict => ({ allowed: false, code, reason });

/**
 * Whether a policy entry names a service: equal (case-insensitively), or a whole-label part of
 * its host name, so "exa" covers "exa.ai" and "api.exa.ai", and "exa.ai" covers "api.exa.ai",
 * but "exa" never covers "texas.com".
 */
export function serviceMatches(entry: string, service: string): boolean {
  const e = entry.trim().toLowerCase();
  const s = service.trim().toLowerCase();
  if (!e || !s) return false;
  if (e === s) return true;
  const labels = s.split('.');
  const want = e.split('.');
  for (let i = 0; i + want.length <= labels.length; i++) {
    if (want.every((w, j) => labels[i + j] === w)) return true;
  }
  return false;
}

/** The checks that need no spend totals: service lists, session requirement, per-call max. */
export function checkCall(policy: Policy, q: { service?: string | null; amountMicros?: bigint | null; withSession?: boolean }): Verdict {
  if (q.service) {
    if (policy.blockedServices.some((b) => serviceMatches(b, q.service!))) return no('service_blocked', `Service ${q.service} is blocked by this agent's policy`);
    if (policy.allowedServices.length && !policy.allowedServices.some((a) => serviceMatches(a, q.service!))) {
      return no('service_not_allowed', `Service ${q.service} is not in this agent's allowed_services`);
    }
  }
  if (policy.requireSession && q.withSession === false) return no('session_required', "This agent's policy requires a payment session (X-Session-Id)");
  if (q.amountMicros != null && policy.perCallMax != null && q.amountMicros > policy.perCallMax) {
    return no('per_call_max', `Insufficient budget: the call costs ${q.amountMicros} micro-USDC, over the per_call_max of ${policy.perCallMax}`);
  }
  return ok;
}

export interface SpendTotals {
  total: bigint;
  day: bigint;
  month: bigint;
}

/** Whether spending `amount` more stays within the spending cap and the daily and monthly limits. */
export function checkBudget(policy: Policy, spent: SpendTotals, amount: bigint): Verdict {
  if (policy.spendingCap != null && spent.total + amount > policy.spendingCap) {
    return no('spending_cap', `Insufficient budget: the agent has spent ${spent.total} of its spending_cap of ${policy.spendingCap} micro-USDC`);
  }
  if (policy.dailyLimit != null && spent.day + amount > policy.dailyLimit) {
    return no('daily_limit', `Insufficient budget: the agent has spent ${spent.day} of its daily_limit of ${policy.dailyLimit} micro-USDC today (UTC)`);
  }
  if (policy.monthlyLimit != null && spent.month + amount > policy.monthlyLimit) {
    return no('monthly_limit', `Insufficient budget: the agent has spent ${spent.month} of its monthly_limit of ${policy.monthlyLimit} micro-USDC this month (UTC)`);
  }
  return ok;
}

/** The spend periods one spend at `at` counts towards, with the limit each must stay within. */
export function spendPeriods(policy: Policy, at: Date): { period: string; limit: bigint | null; code: PolicyCode }[] {
  const [total, day, month] = spendPeriodKeys(at);
  return [
    { period: total, limit: policy.spendingCap, code: 'spending_cap' },
    { period: day, limit: policy.dailyLimit, code: 'daily_limit' },
    { period: month, limit: policy.monthlyLimit, code: 'monthly_limit' },
  ];
}

/**
 * The agent_spend periods of a spend made at `at` (UTC), in the order spends lock them: a
 * refund gives the amount back to exactly these rows, whenever it comes.
 */
export function spendPeriodKeys(at: Date): [string, string, string] {
  const iso = at.toISOString();
  return ['total', `d:${iso.slice(0, 10)}`, `m:${iso.slice(0, 7)}`];
}
