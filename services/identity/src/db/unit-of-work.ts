import type { Outbox, SqlClient } from '@platform/events';
import type { Db } from './client';
import type { Prisma } from '../generated/prisma/client';
import type { Stores, UnitOfWork } from '../domain/ports';
import { keysRepository } from './keys.repository';
import { orgsRepository } from './orgs.repository';
import { agentsRepository } from './agents.repository';
import { departmentsRepository } from './departments.repository';

function stores(db: Db | Prisma.TransactionClient): Stores {
  return {
    keys: keysRepository(db),
    orgs: orgsRepository(db),
    agents: agentsRepository(db),
    departments: departmentsRepository(db),
  };
}

/** Binds the repositories and the outbox to one Prisma transaction per unit of work. */
export function unitOfWork(db: Db, outbox: Outbox): UnitOfWork {
  const bind = (sql: SqlClient) => {
    const tx = sql as Prisma.TransactionClient;
    return {
      ...stores(tx),
      events: {
        async stage(type, subject, data) {
          await outbox.stage(tx, type, subject, data);
        },
      },
    } satisfies ReturnType<UnitOfWork['within']>;
  };
  return {
    ...stores(db),
    within: bind,
    transaction(fn) {
      return db.$transaction(async (tx: Prisma.TransactionClient) => fn(bind(tx)));
    },
  };
}
