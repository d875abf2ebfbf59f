import type { Logger } from '@platform/telemetry';
import type { Metering } from './metering.service';

/** Runs metering.sweep() (then `also`, e.g. releasing expired x402 bookings) every `everyMs`, one sweep at a time, until stopped. */
export function refundSweeper(metering: Metering, opts: { everyMs: number; logger: Logger; also?: () => Promise<{ released: number; used: number }> }) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;
  const tick = () => {
    running = metering
      .sweep()
      .then(async (r) => {
        if (r.abandoned || r.refunded) opts.logger.info(r, 'swept unfinished calls');
        const x = await opts.also?.();
        if (x && (x.released || x.used)) opts.logger.info(x, 'released expired x402 bookings');
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
