import { randomUUID } from 'node:crypto';
import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { ServicesRepository, ServiceRow, ServiceChanges, ListFilter, Tx } from '../db/services.repository';
import type { ServicePublishers } from '../events/publishers';

export interface RegisterInput {
  name: string;
  description: string;
  endpoint: string;
  priceMicros: bigint;
  paymentMethod: string;
  freeTierCalls: number;
  category: string;
  tags: string[];
}

const isAdmin = (p: Principal) => p.roles.includes('admin');

/**
 * The service registry (spec 002). Every change and its event commit in one transaction,
 * so metering's price list can never miss or invent a change.
 */
export function createServiceRegistry(deps: { repo: ServicesRepository; events: ServicePublishers }) {
  const { repo, events } = deps;

  /** The service, if the caller may change it; admins may change any. */
  async function ownedForChange(tx: Tx, principal: Principal, id: string) {
    const s = await repo.lockById(tx, id);
    if (!s) throw new AppError('NOT_FOUND', 'Service not found');
    if (s.providerId !== principal.owner_id && !isAdmin(principal)) throw new AppError('FORBIDDEN', 'Not your service');
    return s;
  }

  return {
    register(principal: Principal, input: RegisterInput): Promise<ServiceRow> {
      return repo.transaction(async (tx) => {
        const s = await repo.create(tx, { id: randomUUID(), providerId: principal.owner_id, ...input });
        await events.registered(tx, s);
        return s;
      });
    },

    async get(id: string): Promise<ServiceRow> {
      const s = await repo.findById(id);
      if (!s) throw new AppError('NOT_FOUND', 'Service not found');
      return s;
    },

    list: (filter: ListFilter) => repo.list(filter),

    update(principal: Principal, id: string, changes: ServiceChanges): Promise<ServiceRow> {
      return repo.transaction(async (tx) => {
        await ownedForChange(tx, principal, id);
        const s = await repo.update(tx, id, changes);
        // A PATCH to status "removed" is a removal, and consumers should hear it as one.
        await (changes.status === 'removed' ? events.removed : events.updated)(tx, s);
        return s;
      });
    },

    remove(principal: Principal, id: string): Promise<ServiceRow> {
      return repo.transaction(async (tx) => {
        const current = await ownedForChange(tx, principal, id);
        if (current.status === 'removed') return current; // already removed: nothing changes, no second event
        const s = await repo.update(tx, id, { status: 'removed' });
        await events.removed(tx, s);
        return s;
      });
    },
  };
}
export type ServiceRegistry = ReturnType<typeof createServiceRegistry>;
