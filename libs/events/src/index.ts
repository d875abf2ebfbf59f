export * from './catalogue';
export * from './envelope';
export * from './bus';
export * from './in-process-bus';
export * from './kafka-bus';
export * from './outbox';

import { EventBus } from './bus';
import { InProcessBus } from './in-process-bus';
import { KafkaBus, KafkaBusOptions } from './kafka-bus';

/** Kafka when brokers are configured; otherwise the given in-process bus (standalone mode). */
export function createBus(opts: { brokers: string[]; clientId: string; log?: KafkaBusOptions['log']; inProcess?: InProcessBus }): EventBus {
  if (opts.brokers.length) return new KafkaBus({ brokers: opts.brokers, clientId: opts.clientId, log: opts.log });
  if (!opts.inProcess) throw new Error('KAFKA_BROKERS is empty and no in-process bus was given (standalone mode provides one)');
  return opts.inProcess;
}
