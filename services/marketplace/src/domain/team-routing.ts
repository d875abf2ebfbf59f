export interface RoutingRuleFacts {
  id: string;
  name: string;
  keywords: string[];
  targetAgentId: string;
  priority: number;
  enabled: boolean;
  createdAt: Date;
}

export interface RoutingMemberFacts {
  agentId: string;
  role: string;
  skills: string[];
  joinedAt: Date;
}

export interface RoutingDecision {
  agentId: string | null;
  /** rule: a routing rule's keyword; skill: a member's skill; role: the team's router, else its leader; none: nobody. */
  matchedBy: 'rule' | 'skill' | 'role' | 'none';
  rule: { id: string; name: string; priority: number } | null;
  matched: string[];
}

/** Lower-case words of letters and digits, single-spaced and padded, so `includes` finds whole words and phrases only. */
export function normalizeWords(text: string): string {
  const words = text.normalize('NFKC').toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  return ` ${words.join(' ')} `;
}

function hits(text: string, terms: string[]): string[] {
  const out: string[] = [];
  for (const term of terms) {
    const t = normalizeWords(term);
    if (t.trim() && text.includes(t) && !out.includes(term)) out.push(term);
  }
  return out;
}

const byTime = (a: Date, b: Date) => a.getTime() - b.getTime();

/**
 * Which agent of a team gets a task. Spec 002: "When incoming tasks match the keywords, they
 * are routed to the target agent", and "Higher priority = evaluated first"; so the first
 * enabled rule, by priority then age, with a keyword in the task decides. Keywords match
 * whole words case-insensitively ("nlp" matches "NLP task", not "nlpx"). With no rule
 * matching, the member whose skills the task names most takes it (earliest joined on a tie);
 * then the team's router, then its leader; otherwise nobody.
 */
export function routeTask(task: string, rules: RoutingRuleFacts[], members: RoutingMemberFacts[]): RoutingDecision {
  const text = normalizeWords(task);
  const ordered = [...rules].sort((a, b) => b.priority - a.priority || byTime(a.createdAt, b.createdAt) || a.id.localeCompare(b.id));
  for (const rule of ordered) {
    if (!rule.enabled) continue;
    const matched = hits(text, rule.keywords);
    if (matched.length) {
      return { agentId: rule.targetAgentId, matchedBy: 'rule', rule: { id: rule.id, name: rule.name, priority: rule.priority }, matched };
    }
  }
  const byJoin = [...members].sort((a, b) => byTime(a.joinedAt, b.joinedAt) || a.agentId.localeCompare(b.agentId));
  let best: { member: RoutingMemberFacts; matched: string[] } | null = null;
  for (const member of byJoin) {
    const matched = hits(text, member.skills);
    if (matched.length > (best?.matched.length ?? 0)) best = { member, matched };
  }
  if (best) return { agentId: best.member.agentId, matchedBy: 'skill', rule: null, matched: best.matched };
  const fallback = byJoin.find((m) => m.role === 'router') ?? byJoin.find((m) => m.role === 'leader');
  if (fallback) return { agentId: fallback.agentId, matchedBy: 'role', rule: null, matched: [] };
  return { agentId: null, matchedBy: 'none', rule: null, matched: [] };
}
