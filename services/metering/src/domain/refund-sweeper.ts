import type { Logger } from '@platform/telemetry';
import type { Metering } from './metering.service';

/** Runs metering.sweep() every `everyMs`, one sweep at a time, until stopped. */
export function refundSweeper(metering: Metering, opts: { everyMs: number; logger: Logger }) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;
  const tick = () => {
    running = metering
      .sweep()
      .then((r) => {
        if (r.abandoned || r.refunded) opts.logger.info(r, 'swept unfinished calls');
      })
      .catch((err) => opts.logger.warn({ err: String(err) }, 'sweep failed'))
      .finally(() => {
        running = undefined;
        if (!stopped) schedule();
      });
  };
  const schedule = () => {
    timer = setTimeout(tick, opts.everyMs);
    timer.unref();
  };
  return {
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
