import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { UnitOfWork } from '../../domain/ports';
import type { DepartmentsService } from '../../domain/departments.service';

/** Department spend summaries: a payment by an org's wallet agent, once per payment id. */
export function paymentCompletedConsumer(deps: { uow: UnitOfWork; departments: DepartmentsService }): Consumer<Db> {
  return {
    name: 'payment-completed',
    types: ['payment.completed'],
    async handle(event, tx) {
      if (event.type !== 'payment.completed') return;
      await deps.departments.recordPayment(deps.uow.within(tx), event.data, new Date(event.time));
    },
    async handleBatch(events, tx) {
      const ps = events.flatMap((e) => (e.type === 'payment.completed' ? [{ p: e.data, at: new Date(e.time) }] : []));
      await deps.departments.recordPayments(deps.uow.within(tx), ps);
    },
  };
}
