import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AnyEnvelope } from '@platform/events';
import { startUpstream, Upstream, eventually } from '@platform/testing';
import { startWebhooks, Harness, as, asService, call, serviceCalled, paymentCompleted } from './support';

jest.setTimeout(30_000);

/** Spec 002 "Signature Verification (Python)", line for line: HMAC-SHA256 of the body bytes, hex, constant-time compare. */
function verifySignature(body: Buffer, secret: string, signature: string): boolean {
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
  return expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}

describe('webhook delivery', () => {
  let h: Harness;
  let base: string;
  const delivered: AnyEnvelope[] = [];

  beforeAll(async () => {
    h = await startWebhooks();
    base = h.svc.url;
    await h.bus.subscribe({ group: 'test-observer', types: ['webhook.delivered'], handler: async (e) => void delivered.push(e) });
  });
  afterAll(() => h.stop());

  const subscribe = async (owner: string, url: string, events: string[], secret = `whsec_${owner}_secret`) => {
    const r = await call(base, 'POST', '/api/v1/webhooks', as(owner), { url, events, secret });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };
  const deliveriesOf = (eventId: string) => h.svc.db.webhookDelivery.findMany({ where: { eventId }, include: { attemptLog: { orderBy: { attempt: 'asc' } } } });

  describe('to a receiver that answers 200', () => {
    let receiver: Upstream;
    beforeAll(async () => {
      receiver = await startUpstream((_req, _body, res) => res.end('ok'));
    });
    afterAll(() => receiver.close());

    it('posts the spec payload, signed, to the buyer’s and the provider’s subscriptions only', async () => {
      const buyerHook = await subscribe('buyer-1', `${receiver.url}/buyer`, ['service.called']);
      const providerHook = await subscribe('provider-1', `${receiver.url}/provider`, ['payment.completed', 'service.called']);
      await subscribe('bystander-1', `${receiver.url}/bystander`, ['service.called']);
      await subscribe('buyer-1', `${receiver.url}/buyer-payments`, ['payment.completed']);

      const e = serviceCalled({ buyer_id: 'buyer-1', provider_id: 'provider-1' });
      await h.bus.publish([e]);
      await eventually(() => receiver.requests.length >= 2);
      await eventually(async () => (await deliveriesOf(e.id)).every((d) => d.status === 'delivered'));

      const hits = receiver.requests.filter((r) => JSON.parse(r.body).payload.usage_id === (e.data as { usage_id: string }).usage_id);
      expect(hits.map((r) => r.url).sort()).toEqual(['/buyer', '/provider']);
      for (const hit of hits) {
        const owner = hit.url === '/buyer' ? 'buyer-1' : 'provider-1';
        const webhookId = hit.url === '/buyer' ? buyerHook : providerHook;
        expect(hit.method).toBe('POST');
        expect(hit.headers['content-type']).toBe('application/json');
        expect(hit.headers['x-acf-event']).toBe('service.called');
        expect(verifySignature(Buffer.from(hit.body, 'utf8'), `whsec_${owner}_secret`, String(hit.headers['x-acf-signature']))).toBe(true);
        expect(verifySignature(Buffer.from(hit.body, 'utf8'), 'whsec_wrong_secret', String(hit.headers['x-acf-signature']))).toBe(false);
        expect(JSON.parse(hit.body)).toEqual({
          event: 'service.called',
          payload: {
            usage_id: (e.data as { usage_id: string }).usage_id,
            service_id: 'svc-1',
            buyer_id: 'buyer-1',
            provider_id: 'provider-1',
            amount_usd: 0.05,
            payment_method: 'balance',
            status_code: 200,
            latency_ms: 150,
          },
          timestamp: e.time.replace(/Z$/, '+00:00'),
          webhook_id: webhookId,
        });
      }

      const rows = await deliveriesOf(e.id);
      expect(rows).toHaveLength(2);
      for (const d of rows) {
        expect(d).toMatchObject({ status: 'delivered', attempts: 1, lastStatusCode: 200 });
        expect(d.attemptLog).toHaveLength(1);
        expect(d.attemptLog[0]).toMatchObject({ attempt: 1, statusCode: 200, error: null });
      }
      await eventually(() => delivered.filter((d) => rows.some((r) => r.id === (d.data as { delivery_id: string }).delivery_id)).length === 2);
      const ev = delivered.find((d) => (d.data as { webhook_id: string }).webhook_id === buyerHook)!;
      expect(ev.data).toEqual({ delivery_id: rows.find((r) => r.webhookId === buyerHook)!.id, webhook_id: buyerHook, owner_id: 'buyer-1', event: 'service.called', status_code: 200, attempts: 1 });
    });

    it('delivers payment.completed to its subscribers', async () => {
      const hook = await subscribe('buyer-2', `${receiver.url}/pay`, ['payment.completed']);
      await subscribe('buyer-2', `${receiver.url}/calls-only`, ['service.called']);
      const e = paymentCompleted({ buyer_id: 'buyer-2', provider_id: 'provider-2' });
      await h.bus.publish([e]);
      const hit = await eventually(() => receiver.requests.find((r) => r.url === '/pay'));
      expect(hit.headers['x-acf-event']).toBe('payment.completed');
      expect(verifySignature(Buffer.from(hit.body), 'whsec_buyer-2_secret', String(hit.headers['x-acf-signature']))).toBe(true);
      expect(JSON.parse(hit.body)).toMatchObject({ event: 'payment.completed', webhook_id: hook, payload: { buyer_id: 'buyer-2', provider_id: 'provider-2', amount_usd: 0.05, payment_method: 'balance' } });
      await new Promise((r) => setTimeout(r, 100));
      expect(receiver.requests.some((r) => r.url === '/calls-only')).toBe(false);
    });

    it('delivers a duplicated event once, even if the consumer’s dedup record were lost', async () => {
      await subscribe('buyer-3', `${receiver.url}/dup`, ['service.called']);
      const e = serviceCalled({ buyer_id: 'buyer-3', provider_id: 'provider-3' });
      await h.bus.publish([e, e]);
      await h.bus.publish([e]);
      await eventually(async () => (await deliveriesOf(e.id)).some((d) => d.status === 'delivered'));
      // Simulate a lost processed_events row: the unique (webhook_id, event_id) still holds.
      await h.svc.db.processedEvent.deleteMany({ where: { eventId: e.id } });
      await h.bus.publish([e]);
      await eventually(async () => (await h.svc.db.processedEvent.count({ where: { eventId: e.id } })) === 1);
      await new Promise((r) => setTimeout(r, 200));
      expect(receiver.requests.filter((r) => r.url === '/dup')).toHaveLength(1);
      expect(await deliveriesOf(e.id)).toHaveLength(1);
    });

    it('records each received service.called, visible to services only', async () => {
      const e = serviceCalled({ buyer_id: 'nobody-subscribed', provider_id: 'nor-this-one', service_id: 'svc-received' });
      const other = serviceCalled({ buyer_id: 'nobody-subscribed', provider_id: 'nor-this-one', service_id: 'svc-received' });
      await h.bus.publish([e, e, other]);
      const path = '/internal/received/service.called/svc-received';
      await eventually(async () => (await call(base, 'GET', path, asService())).body.count === 2);
      await h.bus.publish([e]);
      await new Promise((r) => setTimeout(r, 100));
      expect((await call(base, 'GET', path, asService())).body).toEqual({ event_type: 'service.called', subject: 'svc-received', count: 2 });
      expect((await call(base, 'GET', '/internal/received/service.called/no-such-subject', asService())).body.count).toBe(0);
      const outsider = await call(base, 'GET', path, as('buyer-1'));
      expect(outsider.status).toBe(403);
      expect((await call(base, 'GET', path)).status).toBe(403);
    });

    it('sends nothing to a deleted subscription', async () => {
      const hook = await subscribe('buyer-4', `${receiver.url}/deleted`, ['service.called']);
      await call(base, 'DELETE', `/api/v1/webhooks/${hook}`, as('buyer-4'));
      const e = serviceCalled({ buyer_id: 'buyer-4', provider_id: 'provider-4' });
      await h.bus.publish([e]);
      await eventually(async () => (await h.svc.db.processedEvent.count({ where: { eventId: e.id } })) > 0);
      await new Promise((r) => setTimeout(r, 100));
      expect(await deliveriesOf(e.id)).toHaveLength(0);
      expect(receiver.requests.some((r) => r.url === '/deleted')).toBe(false);
    });
  });

  it('retries a failing receiver 3 times with the same signed body, then marks the delivery failed', async () => {
    const failing = await startUpstream((_req, _body, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    try {
      await subscribe('buyer-5', `${failing.url}/hook`, ['service.called']);
      const e = serviceCalled({ buyer_id: 'buyer-5', provider_id: 'provider-5' });
      await h.bus.publish([e]);
      await eventually(async () => (await deliveriesOf(e.id))[0]?.status === 'failed');
      const [d] = await deliveriesOf(e.id);
      expect(d).toMatchObject({ status: 'failed', attempts: 4, lastStatusCode: 500 });
      expect(d.attemptLog.map((a) => [a.attempt, a.statusCode])).toEqual([[1, 500], [2, 500], [3, 500], [4, 500]]);
      expect(failing.requests).toHaveLength(4);
      expect(new Set(failing.requests.map((r) => r.body)).size).toBe(1);
      expect(new Set(failing.requests.map((r) => r.headers['x-acf-signature'])).size).toBe(1);
      expect(failing.requests.every((r) => verifySignature(Buffer.from(r.body), 'whsec_buyer-5_secret', String(r.headers['x-acf-signature'])))).toBe(true);
      // Each retry waits longer than the one before (base, 2×base, 4×base).
      const at = d.attemptLog.map((a) => a.attemptedAt.getTime());
      expect(at[1] - at[0]).toBeGreaterThanOrEqual(20);
      expect(at[2] - at[1]).toBeGreaterThanOrEqual(40);
      expect(at[3] - at[2]).toBeGreaterThanOrEqual(80);
      await new Promise((r) => setTimeout(r, 300));
      expect(failing.requests).toHaveLength(4);
      expect(delivered.some((x) => (x.data as { delivery_id: string }).delivery_id === d.id)).toBe(false);
    } finally {
      await failing.close();
    }
  });

  it('succeeds on a retry when the receiver recovers, and says how many attempts it took', async () => {
    let n = 0;
    const flaky = await startUpstream((_req, _body, res) => {
      n++;
      res.statusCode = n <= 2 ? 503 : 204;
      res.end();
    });
    try {
      await subscribe('buyer-6', `${flaky.url}/hook`, ['service.called']);
      const e = serviceCalled({ buyer_id: 'buyer-6', provider_id: 'provider-6' });
      await h.bus.publish([e]);
      await eventually(async () => (await deliveriesOf(e.id))[0]?.status === 'delivered');
      const [d] = await deliveriesOf(e.id);
      expect(d).toMatchObject({ attempts: 3, lastStatusCode: 204, lastError: null });
      expect(d.attemptLog.map((a) => a.statusCode)).toEqual([503, 503, 204]);
      const ev = await eventually(() => delivered.find((x) => (x.data as { delivery_id: string }).delivery_id === d.id));
      expect(ev.data).toMatchObject({ attempts: 3, status_code: 204 });
    } finally {
      await flaky.close();
    }
  });

  it('cancels the retries of a subscription deleted after a failed attempt', async () => {
    let hook = '';
    const receiver = await startUpstream((_req, _body, res) => {
      // The owner unsubscribes while the first attempt is in flight; that attempt fails.
      void call(base, 'DELETE', `/api/v1/webhooks/${hook}`, as('buyer-8')).then(() => {
        res.statusCode = 500;
        res.end();
      });
    });
    try {
      hook = await subscribe('buyer-8', `${receiver.url}/hook`, ['service.called']);
      const e = serviceCalled({ buyer_id: 'buyer-8', provider_id: 'provider-8' });
      await h.bus.publish([e]);
      await eventually(async () => (await deliveriesOf(e.id))[0]?.status === 'cancelled');
      const [d] = await deliveriesOf(e.id);
      expect(d).toMatchObject({ attempts: 1, lastError: 'webhook deleted before delivery' });
      expect(d.attemptLog).toHaveLength(1);
      expect(receiver.requests).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('checks the target again at delivery time and refuses a private address without retrying', async () => {
    const hook = await subscribe('buyer-9', 'https://93.184.215.14/hook', ['service.called']);
    // As if the name had since been pointed at an internal address.
    await h.svc.db.webhook.update({ where: { id: hook }, data: { url: 'https://10.255.255.1/hook' } });
    const e = serviceCalled({ buyer_id: 'buyer-9', provider_id: 'provider-9' });
    await h.bus.publish([e]);
    await eventually(async () => (await deliveriesOf(e.id))[0]?.status === 'failed');
    const [d] = await deliveriesOf(e.id);
    expect(d.attempts).toBe(1);
    expect(d.lastError).toMatch(/private, loopback or link-local/);
  });

  it('retries a receiver that cannot be reached', async () => {
    const gone = await startUpstream();
    const url = `${gone.url}/hook`;
    await gone.close();
    await subscribe('buyer-7', url, ['service.called']);
    const e = serviceCalled({ buyer_id: 'buyer-7', provider_id: 'provider-7' });
    await h.bus.publish([e]);
    await eventually(async () => (await deliveriesOf(e.id))[0]?.status === 'failed');
    const [d] = await deliveriesOf(e.id);
    expect(d.attempts).toBe(4);
    expect(d.attemptLog.every((a) => a.statusCode === null && /ECONNREFUSED/.test(a.error ?? ''))).toBe(true);
  });
});
