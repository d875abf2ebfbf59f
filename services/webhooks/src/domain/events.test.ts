import { createHmac } from 'node:crypto';
import { createEnvelope, AnyEnvelope } from '@platform/events';
import { deliveryBody, isoUtc, recipientsOf, retryDelayMs, signBody } from './events';

const called = (over: Partial<{ buyer_id: string; provider_id: string; amount_micros: string }> = {}) =>
  createEnvelope('metering', 'service.called', 'svc-1', {
    usage_id: 'u-1', service_id: 'svc-1', buyer_id: 'buyer', provider_id: 'prov', amount_micros: '50000',
    free_tier: false, payment_method: 'x402', status_code: 200, latency_ms: 150, ...over,
  }) as AnyEnvelope;

describe('webhook payloads', () => {
  it('renders service.called in the spec 002 payload format', () => {
    const e = called();
    const body = JSON.parse(deliveryBody(e, 'wh-1')!);
    expect(body).toEqual({
      event: 'service.called',
      payload: { usage_id: 'u-1', service_id: 'svc-1', buyer_id: 'buyer', provider_id: 'prov', amount_usd: 0.05, payment_method: 'x402', status_code: 200, latency_ms: 150 },
      timestamp: isoUtc(e.time),
      webhook_id: 'wh-1',
    });
    expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
  });

  it('goes to both parties once each', () => {
    expect(recipientsOf(called())).toEqual(['buyer', 'prov']);
    expect(recipientsOf(called({ buyer_id: 'same', provider_id: 'same' }))).toEqual(['same']);
  });

  it('signs the body bytes as the spec verifies them', () => {
    const body = deliveryBody(called({ amount_micros: '1234567' }), 'wh-1')!;
    expect(JSON.parse(body).payload.amount_usd).toBe(1.234567);
    expect(signBody(body, 'whsec_x')).toBe(createHmac('sha256', Buffer.from('whsec_x', 'utf8')).update(Buffer.from(body, 'utf8')).digest('hex'));
  });

  it('backs off 1 s, 2 s, 4 s', () => {
    expect([1, 2, 3].map((n) => retryDelayMs(n, 1000))).toEqual([1000, 2000, 4000]);
  });
});
