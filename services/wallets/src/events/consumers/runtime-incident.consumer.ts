import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import { consumeForEvent } from './credit-use';

/** Spec 000: a created incident costs `incident_created` credits (5). */
export function runtimeIncidentConsumer(deps: Parameters<typeof consumeForEvent>[0]): Consumer<Db> {
  return {
    name: 'runtime-incident',
    types: ['runtime.incident'],
    async handle(event, tx) {
      if (event.type !== 'runtime.incident') return;
      await consumeForEvent(deps, tx, event, event.data.owner_id, 'incident_created');
    },
  };
}
