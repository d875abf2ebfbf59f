import { parseProxyUrl, upstreamPath } from './target';

describe('parseProxyUrl', () => {
  it('splits service id, raw path and raw query', () => {
    expect(parseProxyUrl('/svc-1/analyze/v2?q=a%20b&x=1')).toEqual({ serviceId: 'svc-1', path: 'analyze/v2', query: 'q=a%20b&x=1' });
    expect(parseProxyUrl('/svc-1')).toEqual({ serviceId: 'svc-1', path: null, query: '' });
    expect(parseProxyUrl('/svc-1/')).toEqual({ serviceId: 'svc-1', path: '', query: '' });
    expect(parseProxyUrl('/svc-1/a%2Fb')).toEqual({ serviceId: 'svc-1', path: 'a%2Fb', query: '' });
  });
  it('refuses dot segments however they are spelled', () => {
    for (const url of ['/s/..', '/s/../x', '/s/a/./b', '/s/%2e%2E/x', '/s/.%2e', '/s/..%2fx', '/s/x%5c..%5cy']) {
      expect(() => parseProxyUrl(url)).toThrow(/segments/);
    }
    expect(parseProxyUrl('/s/...').path).toBe('...');
    expect(parseProxyUrl('/s/v1.2/file.json').path).toBe('v1.2/file.json');
  });
  it('answers not found without a service id', () => {
    expect(() => parseProxyUrl('/')).toThrow('Service not found');
    expect(() => parseProxyUrl(`/${'x'.repeat(101)}/a`)).toThrow('Service not found');
  });
});

describe('upstreamPath', () => {
  const u = (s: string) => new URL(s);
  it('appends the path below the endpoint path', () => {
    expect(upstreamPath(u('https://p.example.com/v1'), 'analyze', '')).toBe('/v1/analyze');
    expect(upstreamPath(u('https://p.example.com/v1/'), 'analyze', '')).toBe('/v1/analyze');
    expect(upstreamPath(u('https://p.example.com'), 'analyze', '')).toBe('/analyze');
    expect(upstreamPath(u('https://p.example.com/v1'), null, '')).toBe('/v1');
    expect(upstreamPath(u('https://p.example.com/v1'), '', '')).toBe('/v1/');
  });
  it('keeps the endpoint query and adds the buyer query after it', () => {
    expect(upstreamPath(u('https://p.example.com/v1?key=k'), 'a', 'b=2')).toBe('/v1/a?key=k&b=2');
    expect(upstreamPath(u('https://p.example.com/v1'), 'a', 'b=2')).toBe('/v1/a?b=2');
    expect(upstreamPath(u('https://p.example.com/v1?key=k'), 'a', '')).toBe('/v1/a?key=k');
  });
});
