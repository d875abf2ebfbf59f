import { ROUTES, RouteTable, familyForPath, RouteEntry } from './routes';

const table = new RouteTable();
const where = (path: string) => {
  const r = table.match(path);
  return r && { service: r.service, family: r.family, auth: r.auth };
};

describe('routing table', () => {
  it.each([
    // identity
    ['/api/v1/keys', 'identity', 'detail', 'optional'],
    ['/api/v1/keys/validate', 'identity', 'detail', 'optional'],
    ['/api/v1/provider/keys', 'identity', 'detail', 'required'],
    ['/api/v1/provider/keys/acf_abc', 'identity', 'detail', 'required'],
    ['/auth/login', 'identity', 'error', 'optional'],
    ['/auth/device/poll', 'identity', 'error', 'optional'],
    ['/api-keys', 'identity', 'error', 'required'],
    ['/api-keys/123', 'identity', 'error', 'required'],
    ['/org', 'identity', 'error', 'required'],
    ['/org/members/u1/role', 'identity', 'error', 'required'],
    ['/departments', 'identity', 'error', 'required'],
    ['/departments/d1', 'identity', 'error', 'required'],
    ['/agent-onboard', 'identity', 'ok', 'optional'],
    ['/api/v1/public/agents/register', 'identity', 'detail', 'optional'],
    ['/api/v1/agents', 'identity', 'detail', 'optional'],
    ['/api/v1/agents/search', 'identity', 'detail', 'optional'],
    ['/api/v1/agents/550e8400', 'identity', 'detail', 'optional'],
    ['/api/v1/agents/550e8400/verify', 'identity', 'detail', 'required'],
    // reputation
    ['/api/v1/agents/550e8400/reputation', 'reputation', 'detail', 'optional'],
    ['/api/v1/services/svc-1/reputation', 'reputation', 'detail', 'optional'],
    ['/api/v1/reputation/leaderboard', 'reputation', 'detail', 'optional'],
    ['/api/v1/agents/550e8400/trust', 'reputation', 'detail', 'optional'],
    ['/api/v1/agents/550e8400/trust/history', 'reputation', 'detail', 'optional'],
    ['/api/v1/agents/trust/leaderboard', 'reputation', 'detail', 'optional'],
    ['/api/v1/agents/trust/distribution', 'reputation', 'detail', 'optional'],
    // marketplace
    ['/api/v1/services', 'marketplace', 'detail', 'optional'],
    ['/api/v1/services/svc-1', 'marketplace', 'detail', 'optional'],
    ['/api/v1/discover', 'marketplace', 'detail', 'optional'],
    ['/api/v1/discover/recommendations/a1', 'marketplace', 'detail', 'optional'],
    ['/api/v1/templates/teams', 'marketplace', 'detail', 'optional'],
    ['/api/v1/teams', 'marketplace', 'detail', 'optional'],
    ['/api/v1/teams/t1/members/a1', 'marketplace', 'detail', 'optional'],
    ['/api/v1/agents/550e8400/plugins', 'marketplace', 'detail', 'required'],
    ['/api/v1/agents/550e8400/plugins/web-search-v2', 'marketplace', 'detail', 'required'],
    ['/api/v1/plugins', 'marketplace', 'detail', 'optional'],
    ['/api/v1/provider/services', 'marketplace', 'detail', 'required'],
    ['/api/v1/provider/services/svc-1/test', 'marketplace', 'detail', 'required'],
    ['/api/v1/provider/onboarding', 'marketplace', 'detail', 'required'],
    // metering
    ['/api/v1/proxy/svc-1/v1/sentiment', 'metering', 'detail', 'required'],
    ['/api/v1/usage/me', 'metering', 'detail', 'required'],
    ['/external/fetch', 'metering', 'error', 'required'],
    ['/services/exa/search', 'metering', 'error', 'required'],
    ['/.well-known/agent-pay.md', 'metering', 'detail', 'optional'],
    ['/.well-known/agent-pay.json', 'metering', 'detail', 'optional'],
    // wallets
    ['/agents', 'wallets', 'error', 'required'],
    ['/agents/research-bot/policy', 'wallets', 'error', 'required'],
    ['/sessions', 'wallets', 'error', 'required'],
    ['/sessions/s1/close', 'wallets', 'error', 'required'],
    ['/transactions', 'wallets', 'error', 'required'],
    ['/balance', 'wallets', 'error', 'required'],
    ['/agent-credits', 'wallets', 'ok', 'required'],
    ['/stripe/webhook', 'wallets', 'error', 'optional'],
    ['/dev/balance/fund', 'wallets', 'detail', 'optional'],
    // settlements
    ['/api/v1/settlements', 'settlements', 'detail', 'required'],
    ['/api/v1/settlements/stl-1/pay', 'settlements', 'detail', 'required'],
    ['/api/v1/provider/dashboard', 'settlements', 'detail', 'required'],
    ['/api/v1/provider/earnings', 'settlements', 'detail', 'required'],
    ['/api/v1/provider/services/svc-1/analytics', 'settlements', 'detail', 'required'],
    ['/api/v1/admin/stats', 'settlements', 'detail', 'required'],
    ['/api/v1/admin/providers/p1/commission', 'settlements', 'detail', 'required'],
    ['/admin/dashboard', 'settlements', 'detail', 'required'],
    ['/analytics/overview', 'settlements', 'error', 'required'],
    // runtime
    ['/v1/agent/create', 'runtime', 'detail', 'required'],
    ['/v1/agent/a1/schedules/s1/executions', 'runtime', 'detail', 'required'],
    ['/v1/webhooks/triggers/trg-1', 'runtime', 'detail', 'optional'],
    ['/api/v1/cloud/agents/a1/sqlite/execute', 'runtime', 'detail', 'required'],
    ['/api/v1/mcp/instances/i1/trust-gate', 'runtime', 'detail', 'required'],
    ['/validate', 'runtime', 'ok', 'required'],
    ['/runs', 'runtime', 'ok', 'required'],
    ['/runs/r1/events', 'runtime', 'ok', 'required'],
    ['/incidents', 'runtime', 'ok', 'required'],
    // webhooks
    ['/api/v1/webhooks', 'webhooks', 'detail', 'required'],
    ['/api/v1/webhooks/wh-1', 'webhooks', 'detail', 'required'],
  ])('%s -> %s (%s, auth %s)', (path, service, family, auth) => {
    expect(where(path)).toEqual({ service, family, auth });
  });

  it('routes every service and every entry of the table is reachable', () => {
    expect(new Set(ROUTES.map((r) => r.service)).size).toBe(8);
    for (const r of ROUTES) {
      const sample = r.pattern.replace(/\{[a-z_]+\}/g, 'x1').replace(/\/?\*$/, '/more');
      expect(table.match(sample)).toBe(r);
    }
  });

  it('prefers the more specific pattern over a prefix, whatever the table order', () => {
    const reversed = new RouteTable([...ROUTES].reverse());
    for (const path of ['/api/v1/agents/a1/reputation', '/api/v1/services/s1/reputation', '/api/v1/provider/keys', '/api/v1/provider/services/s1/analytics', '/api/v1/agents/trust/leaderboard']) {
      expect(reversed.match(path)).toBe(table.match(path));
    }
  });

  it('matches whole segments, ignores the trailing slash and never routes /internal or dot segments', () => {
    expect(table.match('/api/v1/keysmith')).toBeNull();
    expect(table.match('/agentsx')).toBeNull();
    expect(table.match('/api/v1/keys/')?.service).toBe('identity');
    expect(table.match('/api/v1/agents/a1/unknown')).toBeNull();
    for (const p of ['/internal/credentials/verify', '/INTERNAL/credentials/verify', '/%69nternal/x', '/api/v1/keys/../../internal/credentials/verify', '/api/v1/keys/%2e%2e/x', '/api/v1/keys/a%2Fb', '/', '/unknown']) {
      expect(table.match(p)).toBeNull();
    }
  });

  it('gives unmatched paths the family of their spec', () => {
    expect(familyForPath('/agent-onboard/x')).toBe('ok');
    expect(familyForPath('/auth')).toBe('error');
    expect(familyForPath('/api/v1/nothing')).toBe('detail');
    expect(familyForPath('/nowhere')).toBe('detail');
  });

  it('refuses a pattern that does not start with a literal', () => {
    const bad: RouteEntry = { pattern: '/{id}/x', service: 'identity', family: 'detail', auth: 'optional' };
    expect(() => new RouteTable([bad])).toThrow(/literal/);
  });
});
