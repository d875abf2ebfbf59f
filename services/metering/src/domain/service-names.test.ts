import { endpointHostOf, externalServiceName, matchEndpoint, slugOf } from './service-names';

describe('service names (spec 001)', () => {
  it('slugs a service name as /services/{slug} uses it', () => {
    expect(slugOf('Exa')).toBe('exa');
    expect(slugOf('  Sentiment Analysis API v2! ')).toBe('sentiment-analysis-api-v2');
    expect(slugOf('---')).toBe('');
  });

  it('names an external URL by its host without api./www. (spec: api.exa.ai is "exa.ai")', () => {
    expect(externalServiceName(new URL('https://api.exa.ai/search'))).toBe('exa.ai');
    expect(externalServiceName(new URL('https://www.example.com/v1/data'))).toBe('example.com');
    expect(externalServiceName(new URL('https://api.com/x'))).toBe('api.com');
    expect(externalServiceName(new URL('http://127.0.0.1:8080/x'))).toBe('127.0.0.1');
    expect(externalServiceName(new URL('http://[::1]:8080/x'))).toBe('::1');
  });

  it('keys endpoints by lower-case host[:port], default ports dropped', () => {
    expect(endpointHostOf('https://API.exa.ai:443/v1')).toBe('api.exa.ai');
    expect(endpointHostOf('http://127.0.0.1:8080')).toBe('127.0.0.1:8080');
    expect(endpointHostOf('not a url')).toBe('');
  });

  it('finds the registered endpoint covering a URL: same origin, path on a "/" boundary, longest wins', () => {
    const services = [
      { id: 'root', endpoint: 'https://api.exa.ai' },
      { id: 'v1', endpoint: 'https://api.exa.ai/v1' },
      { id: 'v1-search', endpoint: 'https://api.exa.ai/v1/search/' },
      { id: 'other-port', endpoint: 'https://api.exa.ai:8443/v2' },
    ];
    const match = (u: string) => matchEndpoint(new URL(u), services)?.id ?? null;
    expect(match('https://api.exa.ai/v1/search?q=1')).toBe('v1-search');
    expect(match('https://api.exa.ai/v1/contents')).toBe('v1');
    expect(match('https://api.exa.ai/v10')).toBe('root');
    expect(match('https://api.exa.ai/')).toBe('root');
    expect(match('http://api.exa.ai/v1')).toBeNull();
    expect(match('https://api.exa.ai:8443/v2/x')).toBe('other-port');
    expect(match('https://api.exa.ai:8443/v3')).toBeNull();
  });
});
