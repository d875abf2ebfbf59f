import { spawn, ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '@platform/chain';

/**
 * Child processes the way the fleet runs them (e2e/support/fleet.ts): `node --import tsx
 * <entry>` in the package's folder, each with its own environment. Output goes straight to a
 * log file descriptor, so the bench process (which also generates the load) never copies it.
 */

export const ROOT = path.resolve(__dirname, '..');

export { freePort };

export interface ProcSpec {
  name: string;
  cwd: string;
  entry: string;
  args?: string[];
  env: Record<string, string>;
  port: number;
  /** Path answered 200 once the process is ready. */
  readyPath: string;
  /** Extra --import preloads (absolute paths). */
  preload?: string[];
}

export interface Proc extends ProcSpec {
  child: ChildProcess;
  log: string;
}

export class Procs {
  readonly all = new Map<string, Proc>();
  constructor(readonly logDir: string) {}

  start(spec: ProcSpec): Proc {
    const log = path.join(this.logDir, `${spec.name}.log`);
    const fd = openSync(log, 'a');
    const imports = ['tsx', ...(spec.preload ?? [])].flatMap((m) => ['--import', m]);
    const child = spawn(process.execPath, [...imports, spec.entry, ...(spec.args ?? [])], {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env, PORT: String(spec.port) },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const p: Proc = { ...spec, child, log };
    this.all.set(spec.name, p);
    return p;
  }

  url(name: string): string {
    return `http://127.0.0.1:${this.get(name).port}`;
  }

  get(name: string): Proc {
    const p = this.all.get(name);
    if (!p) throw new Error(`no process ${name}`);
    return p;
  }

  pid(name: string): number | undefined {
    return this.all.get(name)?.child.pid;
  }

  async waitReady(name: string, timeoutMs = 120_000): Promise<void> {
    const p = this.get(name);
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (p.child.exitCode !== null) throw new Error(`${name} exited with code ${p.child.exitCode}; see ${p.log}`);
      const r = await fetch(`http://127.0.0.1:${p.port}${p.readyPath}`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      await r?.arrayBuffer().catch(() => undefined);
      if (r?.status === 200) return;
      if (Date.now() > until) throw new Error(`${name} not ready within ${timeoutMs} ms; see ${p.log}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  signal(name: string, sig: NodeJS.Signals): void {
    this.get(name).child.kill(sig);
  }

  async stop(name: string): Promise<void> {
    const child = this.get(name).child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const hard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(hard);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.all.keys()].map((n) => this.stop(n)));
  }
}
