import { forwardableRequestHeaders, forwardableResponseHeaders } from './headers';

describe('forwardableRequestHeaders', () => {
  it('drops credentials, platform headers, hop-by-hop headers and those Connection names', () => {
    const out = forwardableRequestHeaders({
      authorization: 'Bearer x',
      'x-api-key': 'k',
      cookie: 'a=b',
      'x-internal-principal': 't',
      'x-forwarded-for': '1.2.3.4',
      connection: 'keep-alive, X-Custom-Hop',
      'x-custom-hop': '1',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'p',
      te: 'trailers',
      trailer: 'x',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      host: 'gateway:8000',
      expect: '100-continue',
      'content-type': 'application/json',
      'content-length': '12',
      accept: '*/*',
    });
    expect(out).toEqual({ 'content-type': 'application/json', 'content-length': '12', accept: '*/*' });
  });
});

describe('forwardableResponseHeaders', () => {
  it('drops hop-by-hop headers, cookies and any billing header the provider tries to set', () => {
    const out = forwardableResponseHeaders({
      connection: 'close',
      'transfer-encoding': 'chunked',
      'set-cookie': ['a=b'],
      'x-acf-amount': '0',
      'x-request-id': 'provider-id',
      'content-type': 'text/plain',
      link: '<a>; rel=next',
    });
    expect(out).toEqual({ 'content-type': 'text/plain', link: '<a>; rel=next' });
  });
});
