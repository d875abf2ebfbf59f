import { randomUUID } from 'node:crypto';
import type { AnyEnvelope } from '@platform/events';
import { startWebhooks, Harness, as, call, serviceCalled, paymentCompleted } from './support';
import { createFanOut } from '../src/domain/fan-out.service';
import { webhooksRepository } from '../src/db/webhooks.repository';
import { deliveriesRepository } from '../src/db/deliveries.repository';
import { receivedEventsRepository } from '../src/db/received-events.repository';

jest.setTimeout(30_000);

/**
 * A Kafka fetch's events fanned out at once (three statements for the whole batch) must enqueue
 * exactly the deliveries that fanning them out one by one enqueues: the same subscriptions, the
 * same bodies, nothing for owners without a subscription or for a type a subscription did not name.
 */
describe('fan-out of a batch of events (real PostgreSQL)', () => {
  let h: Harness;

  beforeAll(async () => {
    // The delivery worker never runs here: the deliveries stay pending, to be compared.
    h = await startWebhooks({ WEBHOOK_POLL_MS: '60000' });
  });
  afterAll(() => h.stop());

  const subscribe = async (owner: string, events: string[]) => {
    const r = await call(h.svc.url, 'POST', '/api/v1/webhooks', as(owner), { url: `http://127.0.0.1:9/${owner}`, events, secret: `whsec_${owner}_secret` });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };

  it('enqueues the same deliveries as one event at a time', async () => {
    const buyerHook = await subscribe('fb-buyer', ['service.called']);
    const providerHook = await subscribe('fb-provider', ['service.called', 'payment.completed']);
    const fanOut = createFanOut({ webhooks: webhooksRepository(h.svc.db), deliveries: deliveriesRepository(h.svc.db), received: receivedEventsRepository(h.svc.db) });

    const scenario = (): AnyEnvelope[] => [
      serviceCalled({ buyer_id: 'fb-buyer', provider_id: 'fb-provider' }), // both
      paymentCompleted({ buyer_id: 'fb-buyer', provider_id: 'fb-provider' }), // the provider only: the buyer did not name it
      serviceCalled({ buyer_id: 'fb-nobody', provider_id: 'fb-none' }), // no subscription at all
      serviceCalled({ buyer_id: 'fb-provider', provider_id: 'fb-provider' }), // one owner on both sides: one delivery
    ];
    const one = scenario();
    // The same events again under new ids (a second run must not be taken for the first).
    const many = one.map((e) => ({ ...e, id: randomUUID() }) as AnyEnvelope);
    await h.svc.db.$transaction(async (tx) => {
      for (const e of one) await fanOut(e, tx);
    });
    const enqueued = await h.svc.db.$transaction((tx) => fanOut.many(many, tx));
    expect(enqueued).toBe(4);

    // Per event position: which subscription got what body (event ids differ between the two runs).
    const shape = async (events: AnyEnvelope[]) =>
      Promise.all(
        events.map(async (e) => {
          const ds = await h.svc.db.webhookDelivery.findMany({ where: { eventId: e.id }, orderBy: { webhookId: 'asc' } });
          return ds.map((d) => ({ webhookId: d.webhookId, event: d.event, body: JSON.parse(d.body.replaceAll(e.id, 'EVENT')) }));
        }),
      );
    const a = await shape(one);
    expect(await shape(many)).toEqual(a);
    expect(a.map((ds) => ds.map((d) => d.webhookId))).toEqual([[buyerHook, providerHook].sort(), [providerHook], [], [providerHook]]);
    for (const e of many) expect(await h.svc.db.receivedEvent.count({ where: { eventId: e.id } })).toBe(1);
  });
});
