import { Router } from 'express';
import { errorFamily, requireService, validate } from '@platform/http';
import type { ReceivedEventsRepository } from '../db/received-events.repository';
import { ReceivedParams } from './webhooks.schemas';

export function internalRouter(deps: { received: ReceivedEventsRepository }): Router {
  const r = Router();
  r.use('/internal', errorFamily('detail'), requireService);
  /** How many events of a type and subject arrived here; lets the fleet's e2e test see them land. */
  r.get('/internal/received/:event_type/:subject', validate({ params: ReceivedParams }), async (req, res) => {
    const { event_type, subject } = res.locals.params as { event_type: string; subject: string };
    res.json({ event_type, subject, count: await deps.received.count(event_type, subject) });
  });
  return r;
}
