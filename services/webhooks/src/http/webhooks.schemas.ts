import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';
import { SUBSCRIBABLE_EVENTS } from '../domain/events';

/** Spec 002 "Subscribe": url (HTTPS), events (from the available list), secret (signing key). */
export const CreateWebhookBody = z.object({
  url: z.string({ error: 'is required' }).trim().min(1, { error: 'is required' }).max(2048, { error: 'must be at most 2048 characters' }),
  events: z
    .array(z.enum(SUBSCRIBABLE_EVENTS, { error: `must be one of ${SUBSCRIBABLE_EVENTS.join(', ')}` }), { error: 'must be a list of event names' })
    .min(1, { error: 'name at least one event' })
    .max(SUBSCRIBABLE_EVENTS.length * 2, { error: 'too many entries' }),
  secret: z.string({ error: 'is required' }).min(8, { error: 'must be 8 to 256 characters' }).max(256, { error: 'must be 8 to 256 characters' }),
});
export type CreateWebhookBody = z.infer<typeof CreateWebhookBody>;

export const ListWebhooksQuery = z.object({ limit: limitParam(20, 100), offset: offsetParam });
export type ListWebhooksQuery = z.infer<typeof ListWebhooksQuery>;

export const ReceivedParams = z.object({ event_type: z.string().min(1).max(100), subject: z.string().min(1).max(500) });
