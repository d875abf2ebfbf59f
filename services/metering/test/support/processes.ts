import { spawn, ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { eventually } from '@platform/testing';
import { freePort } from '@platform/chain';

export { freePort };

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
export const LOG_DIR = path.join(ROOT, '.tmp', 'metering-test-logs');


/**
 * A service as its own OS process, started the way the fleet starts it (e2e/support/fleet.ts:
 * `node --import tsx src/main.ts` in the service's folder), so a test can SIGKILL it.
 */
export class ServiceProcess {
  child?: ChildProcess;
  readonly url: string;
  constructor(
    readonly service: string,
    readonly port: number,
    readonly env: Record<string, string>,
    readonly logName = service,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  start(): void {
    mkdirSync(LOG_DIR, { recursive: true });
    const log = createWriteStream(path.join(LOG_DIR, `${this.logName}.log`), { flags: 'a' });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: path.join(ROOT, 'services', this.service),
      env: { ...process.env, OTEL_SDK_DISABLED: 'true', ...this.env, PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    this.child = child;
  }

  async ready(timeoutMs = 60_000): Promise<void> {
    await eventually(
      async () => {
        if (this.child && this.child.exitCode !== null) throw new Error(`${this.service} exited with ${this.child.exitCode}; see ${LOG_DIR}/${this.logName}.log`);
        const r = await fetch(`${this.url}/ready`).catch(() => undefined);
        return r?.status === 200;
      },
      timeoutMs,
      100,
    );
  }

  /** Sends the signal and waits for the process to be gone (SIGKILL after 15 s of SIGTERM). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
