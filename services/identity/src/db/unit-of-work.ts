import type { Outbox } from '@platform/events';
import type { Db } from './client';
import type { Prisma } from '../generated/prisma/client';
import type { UnitOfWork } from '../domain/ports';
import { keysRepository } from './keys.repository';
import { orgsRepository } from './orgs.repository';
import { agentsRepository } from './agents.repository';

/** Binds the repositories and the outbox to one Prisma transaction per unit of work. */
export function unitOfWork(db: Db, outbox: Outbox): UnitOfWork {
  return {
    keys: keysRepository(db),
    orgs: orgsRepository(db),
    agents: agentsRepository(db),
    transaction(fn) {
      return db.$transaction(async (tx: Prisma.TransactionClient) =>
        fn({
          keys: keysRepository(tx),
          orgs: orgsRepository(tx),
          agents: agentsRepository(tx),
          events: {
            async stage(type, subject, data) {
              await outbox.stage(tx, type, subject, data);
            },
          },
        }),
      );
    },
  };
}
