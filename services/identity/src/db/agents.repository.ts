import type { Client } from './keys.repository';
import type { AgentStore } from '../domain/ports';

const summary = { id: true, ownerId: true, displayName: true, status: true, verified: true } as const;

export function agentsRepository(db: Client): AgentStore {
  return {
    create: (a) => db.agent.create({ data: a, select: summary }),
    findById: (id) => db.agent.findUnique({ where: { id }, select: summary }),
  };
}
