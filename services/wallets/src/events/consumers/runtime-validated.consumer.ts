import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import { consumeForEvent } from './credit-use';

/** Spec 000: a validate call costs `validate_call` credits (1). */
export function runtimeValidatedConsumer(deps: Parameters<typeof consumeForEvent>[0]): Consumer<Db> {
  return {
    name: 'runtime-validated',
    types: ['runtime.validated'],
    async handle(event, tx) {
      if (event.type !== 'runtime.validated') return;
      await consumeForEvent(deps, tx, event, event.data.owner_id, 'validate_call');
    },
  };
}
