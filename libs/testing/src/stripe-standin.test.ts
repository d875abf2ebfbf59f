import { createHmac } from 'node:crypto';
import { parseStripeForm, startStripeStandIn } from './stripe-standin';

describe('Stripe stand-in', () => {
  it('decodes Stripe form encoding into nested objects and arrays', () => {
    const body = 'mode=payment&line_items[0][quantity]=1&line_items[0][price_data][unit_amount]=5000&metadata[purchase_id]=p%201&expand[0]=payment_intent';
    expect(parseStripeForm(body)).toEqual({
      mode: 'payment',
      line_items: [{ quantity: '1', price_data: { unit_amount: '5000' } }],
      metadata: { purchase_id: 'p 1' },
      expand: ['payment_intent'],
    });
  });

  it('signs a payload as Stripe does: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<payload>")', async () => {
    const s = await startStripeStandIn({ webhookSecret: 'whsec_test' });
    try {
      const header = s.signatureHeader('{"id":"evt_1"}', { timestamp: 1700000000 });
      const expected = createHmac('sha256', 'whsec_test').update('1700000000.{"id":"evt_1"}').digest('hex');
      expect(header).toBe(`t=1700000000,v1=${expected}`);
    } finally {
      await s.close();
    }
  });
});
