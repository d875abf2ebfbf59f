import { Session } from 'node:inspector';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Preloaded (--import) into the platform's processes: SIGUSR2 starts the V8 CPU profiler, the
 * next SIGUSR2 writes BENCH_PROFILE_DIR/<BENCH_PROFILE_NAME>.cpuprofile. Only the measured
 * window is profiled, not start-up (where tsx compiles every file).
 */
const dir = process.env.BENCH_PROFILE_DIR;
const name = process.env.BENCH_PROFILE_NAME ?? String(process.pid);
if (dir) {
  let session: Session | null = null;
  process.on('SIGUSR2', () => {
    if (!session) {
      const s = new Session();
      session = s;
      s.connect();
      s.post('Profiler.enable', () => s.post('Profiler.setSamplingInterval', { interval: 500 }, () => s.post('Profiler.start')));
      return;
    }
    const s = session;
    session = null;
    s.post('Profiler.stop', (err, result) => {
      const file = path.join(dir, `${name}.cpuprofile`);
      writeFileSync(file + '.tmp', err ? '{}' : JSON.stringify(result.profile));
      renameSync(file + '.tmp', file);
      s.disconnect();
    });
  });
}
