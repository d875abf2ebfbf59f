import type { AgentRecord, TransactionRecord } from '../db/agents.repository';
import type { SessionRecord } from '../db/sessions.repository';

/** Spec 001 shapes. Integer micro-USDC limits are JSON numbers (exact below 2^53); balances are strings. */
const num = (v: bigint | null) => (v === null ? null : Number(v));
const unix = (d: Date) => Math.floor(d.getTime() / 1000);

export const agentJson = (a: AgentRecord, usdcBalance: bigint) => ({
  id: a.id,
  name: a.name,
  wallet_address: a.walletAddress,
  usdc_balance: usdcBalance.toString(),
  spending_cap: num(a.policy.spendingCap),
  active: a.active,
  auto_topup_threshold: num(a.autoTopupThreshold),
  auto_topup_amount: num(a.autoTopupAmount),
  auto_topup_source: a.autoTopupSource,
  department_id: a.departmentId,
  created_at: unix(a.createdAt),
});

export const policyJson = (a: AgentRecord) => ({
  spending_cap: num(a.policy.spendingCap),
  daily_limit: num(a.policy.dailyLimit),
  monthly_limit: num(a.policy.monthlyLimit),
  per_call_max: num(a.policy.perCallMax),
  allowed_services: a.policy.allowedServices,
  blocked_services: a.policy.blockedServices,
  require_session: a.policy.requireSession,
});

export const transactionJson = (t: TransactionRecord) => ({
  id: t.id,
  tx_hash: t.txHash,
  type: t.type,
  from_address: t.fromAddress,
  to_address: t.toAddress,
  amount: t.amount.toString(),
  token: t.token,
  timestamp: unix(t.createdAt),
  agent_id: t.agentId,
});

/** "expired" is an open session past its expiry (spec 001: it can still be closed). */
export const sessionStatus = (s: SessionRecord, now: Date) => (s.status === 'open' && s.expiresAt <= now ? 'expired' : s.status);

/** The POST /sessions shape. */
export const openedSessionJson = (s: SessionRecord, now: Date) => ({
  id: s.id,
  deposit_amount: Number(s.depositAmount),
  used_amount: Number(s.usedAmount),
  remaining: Number(s.depositAmount - s.usedAmount - (s.refundedAmount ?? 0n)),
  call_count: s.callCount,
  status: sessionStatus(s, now),
  deposit_tx_hash: s.depositTxHash,
  expires_at: unix(s.expiresAt),
  expires_in: Math.max(0, Math.ceil((s.expiresAt.getTime() - now.getTime()) / 1000)),
});

/** The POST /sessions/:id/close shape. */
export const closedSessionJson = (s: SessionRecord) => ({
  id: s.id,
  status: s.status,
  deposit_amount: Number(s.depositAmount),
  used_amount: Number(s.usedAmount),
  refunded: Number(s.refundedAmount ?? 0n),
  call_count: s.callCount,
  refund_tx_hash: s.refundTxHash,
});

/** GET /sessions and GET /sessions/:id: the open shape with the agent, and the close fields once closed. */
export const sessionDetailJson = (s: SessionRecord, now: Date) => ({
  ...openedSessionJson(s, now),
  agent_wallet_id: s.agentId,
  created_at: unix(s.createdAt),
  refunded: s.refundedAmount === null ? null : Number(s.refundedAmount),
  refund_tx_hash: s.refundTxHash,
  closed_at: s.closedAt ? unix(s.closedAt) : null,
});
