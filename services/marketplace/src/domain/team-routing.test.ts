import { normalizeWords, routeTask, RoutingMemberFacts, RoutingRuleFacts } from './team-routing';

const t = (s: number) => new Date(Date.UTC(2026, 2, 19, 10, 0, s));
const rule = (over: Partial<RoutingRuleFacts>): RoutingRuleFacts => ({
  id: 'r',
  name: 'rule',
  keywords: [],
  targetAgentId: 'agent',
  priority: 0,
  enabled: true,
  createdAt: t(0),
  ...over,
});
const member = (agentId: string, over: Partial<RoutingMemberFacts> = {}): RoutingMemberFacts => ({ agentId, role: 'worker', skills: [], joinedAt: t(0), ...over });

describe('routeTask', () => {
  it('sends a task to the target of the highest-priority rule with a keyword in it', () => {
    const rules = [
      rule({ id: 'low', name: 'Text', keywords: ['text'], targetAgentId: 'writer', priority: 1 }),
      rule({ id: 'high', name: 'NLP tasks', keywords: ['nlp', 'text'], targetAgentId: 'nlp-agent', priority: 10 }),
    ];
    expect(routeTask('Please run NLP on this text', rules, [])).toEqual({
      agentId: 'nlp-agent',
      matchedBy: 'rule',
      rule: { id: 'high', name: 'NLP tasks', priority: 10 },
      matched: ['nlp', 'text'],
    });
  });

  it('breaks a priority tie by the older rule and skips disabled rules', () => {
    const rules = [
      rule({ id: 'b', keywords: ['report'], targetAgentId: 'newer', createdAt: t(2) }),
      rule({ id: 'a', keywords: ['report'], targetAgentId: 'older', createdAt: t(1) }),
      rule({ id: 'off', keywords: ['report'], targetAgentId: 'disabled', priority: 99, enabled: false }),
    ];
    expect(routeTask('weekly report', rules, []).agentId).toBe('older');
  });

  it('matches whole words and phrases only, case-insensitively', () => {
    const rules = [rule({ keywords: ['text'], targetAgentId: 'texter' }), rule({ id: 'p', keywords: ['code review'], targetAgentId: 'reviewer', priority: -1 })];
    expect(routeTask('context switching', rules, []).matchedBy).toBe('none');
    expect(routeTask('TEXT!', rules, []).agentId).toBe('texter');
    expect(routeTask('do a Code-Review please', rules, []).agentId).toBe('reviewer');
    expect(routeTask('review the code', rules, []).agentId).toBeNull();
  });

  it('falls back to the member whose skills the task names most, then router, then leader', () => {
    const members = [
      member('leader-1', { role: 'leader', joinedAt: t(0) }),
      member('router-1', { role: 'router', joinedAt: t(1) }),
      member('nlp', { skills: ['nlp'], joinedAt: t(2) }),
      member('nlp-sentiment', { skills: ['nlp', 'sentiment'], joinedAt: t(3) }),
    ];
    expect(routeTask('nlp sentiment scoring', [], members)).toEqual({ agentId: 'nlp-sentiment', matchedBy: 'skill', rule: null, matched: ['nlp', 'sentiment'] });
    expect(routeTask('nlp only', [], members).agentId).toBe('nlp');
    expect(routeTask('something else', [], members)).toEqual({ agentId: 'router-1', matchedBy: 'role', rule: null, matched: [] });
    expect(routeTask('something else', [], members.filter((m) => m.role !== 'router')).agentId).toBe('leader-1');
    expect(routeTask('something else', [], [member('w')])).toEqual({ agentId: null, matchedBy: 'none', rule: null, matched: [] });
  });

  it('normalizes punctuation, case and unicode to padded words', () => {
    expect(normalizeWords('  Héllo, WORLD—again! ')).toBe(' héllo world again ');
    expect(normalizeWords('')).toBe('  ');
  });
});
