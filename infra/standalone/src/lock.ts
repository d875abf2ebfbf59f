import { openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * Two PGlite instances on the same data directory corrupt it (PGlite has no postmaster to
 * refuse the second), so a data folder is used by one standalone platform at a time.
 */
export function lockDataFolder(dataDir: string): () => void {
  const file = path.join(dataDir, 'standalone.lock');
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = Number(readFileSync(file, 'utf8').trim());
      if (holder && isAlive(holder)) {
        throw new Error(`${dataDir} is in use by another standalone platform (pid ${holder}); stop it or choose another STANDALONE_DATA_DIR`);
      }
      rmSync(file, { force: true }); // left by a process that died without stopping
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
