import type { AnyEnvelope, SqlClient } from '@platform/events';
import type { Logger } from '@platform/telemetry';
import type { CreditPricing, CreditUse } from '../../domain/credit-packs';
import type { CreditService } from '../../domain/credits.service';

/**
 * What the three usage consumers share: take the use's price (spec 000 pricing) from the
 * owner's credits once per event id, or record a shortfall when the balance cannot cover it.
 */
export async function consumeForEvent(
  deps: { credits: CreditService; pricing: CreditPricing; logger: Logger },
  tx: SqlClient,
  event: AnyEnvelope,
  ownerId: string,
  use: CreditUse,
): Promise<void> {
  const r = await deps.credits.consume(tx, { ownerId, use, credits: deps.pricing[use], eventId: event.id });
  if (r.outcome === 'shortfall') {
    deps.logger.warn({ owner_id: ownerId, use, credits: deps.pricing[use], balance: r.balance.toString(), event_id: event.id }, 'credits exhausted; usage recorded as a shortfall');
  }
}
