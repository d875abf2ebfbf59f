import { randomUUID } from 'node:crypto';
import { AppError, checkOutboundUrl } from '@platform/http';
import type { WebhooksRepository, WebhookRow } from '../db/webhooks.repository';
import type { SecretBox } from './secret-box';
import { isoUtc, SUBSCRIBABLE_EVENTS, SubscribableEvent } from './events';

const RESOLVE_WAIT_MS = 2_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Spec 002 "Limits: Maximum 20 webhooks per owner." */
export const MAX_WEBHOOKS_PER_OWNER = 20;

export interface WebhookView {
  id: string;
  owner_id: string;
  url: string;
  events: string[];
  active: boolean;
  created_at: string;
}

/** The spec 002 subscription shape; the secret never leaves the service. */
export const toView = (w: WebhookRow): WebhookView => ({
  id: w.id,
  owner_id: w.ownerId,
  url: w.url,
  events: [...w.events].sort(),
  active: w.active,
  created_at: isoUtc(w.createdAt),
});

export interface WebhookServiceDeps {
  repo: WebhooksRepository;
  box: SecretBox;
  allowHosts: Set<string>;
  clock?: () => Date;
}

export function createWebhookService(deps: WebhookServiceDeps) {
  const clock = deps.clock ?? (() => new Date());

  /**
   * Spec 002 requires HTTPS. Plain http is accepted only for hosts in OUTBOUND_ALLOW_HOSTS
   * (local receivers in development and tests). Targets resolving to private addresses are
   * refused now; a name that does not resolve yet is accepted and checked again at delivery.
   */
  async function checkUrl(raw: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new AppError('BAD_REQUEST', 'url: must be an absolute https URL');
    }
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const allowListed = deps.allowHosts.has(host) || deps.allowHosts.has(`${host}:${url.port}`);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowListed)) {
      throw new AppError('BAD_REQUEST', 'url: webhook URLs must use HTTPS');
    }
    if (url.username || url.password) throw new AppError('BAD_REQUEST', 'url: must not carry credentials');
    try {
      // A slow resolver must not hold the request: an unanswered lookup counts as unresolved.
      await Promise.race([checkOutboundUrl(url.toString(), deps.allowHosts), sleep(RESOLVE_WAIT_MS)]);
    } catch (err) {
      if (err instanceof AppError && err.code === 'FORBIDDEN') {
        throw new AppError('BAD_REQUEST', 'url: must not point at a private, loopback or link-local address');
      }
      if (!(err instanceof AppError && err.code === 'BAD_GATEWAY')) throw err;
    }
    return url.toString();
  }

  return {
    async create(ownerId: string, input: { url: string; events: SubscribableEvent[]; secret: string }): Promise<WebhookView> {
      const url = await checkUrl(input.url);
      const events = SUBSCRIBABLE_EVENTS.filter((e) => input.events.includes(e));
      const id = randomUUID();
      const row = await deps.repo.createWithinLimit({ id, ownerId, url, events, secretCiphertext: deps.box.seal(input.secret, id) }, MAX_WEBHOOKS_PER_OWNER);
      if (!row) {
        throw new AppError('BAD_REQUEST', `Maximum ${MAX_WEBHOOKS_PER_OWNER} webhooks per owner; delete one before adding another`);
      }
      return toView(row);
    },

    async list(ownerId: string, page: { limit: number; offset: number }): Promise<WebhookView[]> {
      return (await deps.repo.listByOwner(ownerId, page)).map(toView);
    },

    async remove(ownerId: string, webhookId: string): Promise<{ status: 'deleted'; webhook_id: string }> {
      const w = await deps.repo.findLive(webhookId);
      if (!w) throw new AppError('NOT_FOUND', 'Webhook not found');
      if (w.ownerId !== ownerId) throw new AppError('FORBIDDEN', 'Not your webhook');
      await deps.repo.markDeleted(w.id, clock());
      return { status: 'deleted', webhook_id: w.id };
    },
  };
}
export type WebhookService = ReturnType<typeof createWebhookService>;
