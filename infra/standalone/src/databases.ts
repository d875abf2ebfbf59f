import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Embedded PostgreSQL for standalone mode: one PGlite database per service (a service owns
 * its data, here as in the fleet), hosted in worker threads and served over the Postgres
 * wire protocol on loopback ports, so each service's Prisma client, migration runner and
 * outbox relay run unchanged.
 *
 * pglite-socket 0.2.17 queues protocol messages from all connections onto the one PGlite
 * backend; while that backend is inside a transaction block it only takes messages from the
 * connection that opened it. Outside one, messages of different connections may interleave,
 * and every connection shares the backend's session state (unnamed statement, portals,
 * SET, advisory locks). So each service talks to its database through ONE connection at a
 * time: the migration runner's client closes before the Prisma client opens, and the Prisma
 * pool is capped at one (PG_POOL_MAX=1, see services.ts); concurrent requests, consumers and
 * the outbox relay wait for that connection in the pool instead of sharing a backend.
 */

const WORKER = path.join(__dirname, 'database-worker.cjs');

function pgliteDist(): string {
  return path.dirname(require.resolve('@electric-sql/pglite'));
}

export function pgliteVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(pgliteDist(), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

// The ES2022 lib this repo compiles against does not declare WebAssembly; Node has it.
const { WebAssembly: wasmApi } = globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<object> } };

type Reply = { id: number; type: 'done' | 'closed' } | { id: number; type: 'ready'; port: number } | { id: number; type: 'error'; message: string };

/** One worker thread and the requests waiting for its replies. */
class Host {
  private readonly worker = new Worker(WORKER);
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private exited?: Error;

  constructor() {
    const failAll = (err: Error) => {
      this.exited = err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    this.worker.on('message', (r: Reply) => {
      const w = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      if (r.type === 'error') w?.reject(new Error(r.message));
      else w?.resolve(r);
    });
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`embedded database thread exited (code ${code})`)));
  }

  request(msg: Record<string, unknown>): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export interface EmbeddedDatabasesOptions {
  /** Service name -> PGlite data directory (copied from the template when it holds no database). */
  dirs: Record<string, string>;
  /** A freshly initialised, cleanly closed PGlite data directory; built when missing. */
  templateDir: string;
  /** Postgres shared_buffers; its default of 128MB costs ~110 MB of memory per database. */
  sharedBuffers?: string;
  /** Worker threads hosting the databases; default: the cores left after the main thread, at most 2 (each costs ~60 MB, and more did not start faster). */
  threads?: number;
}

export interface EmbeddedDatabases {
  /** Service name -> postgresql:// URL (database postgres, user postgres). */
  urls: Record<string, string>;
  timings: { template: number; open: number };
  /** Closes every database (flushing it to its folder) and ends the threads. */
  stop(): Promise<void>;
}

export async function startEmbeddedDatabases(opts: EmbeddedDatabasesOptions): Promise<EmbeddedDatabases> {
  const names = Object.keys(opts.dirs);
  const threads = Math.max(1, Math.min(names.length, opts.threads ?? Math.min(2, os.availableParallelism() - 1)));
  const hosts = Array.from({ length: threads }, () => new Host());
  const hostOf = (i: number) => hosts[i % hosts.length];
  const opened: { host: Host; id: string }[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const results = await Promise.allSettled(opened.map((o) => o.host.request({ op: 'close', id: o.id })));
      await Promise.all(hosts.map((h) => h.terminate()));
      const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      if (failed.length) throw new Error(`closing embedded databases: ${failed.join('; ')}`);
    })());

  try {
    let t = Date.now();
    await ensureTemplate(opts.templateDir, hosts[0]);
    const template = Date.now() - t;
    t = Date.now();
    // Compiled once and handed to every thread, rather than each compiling the same 9 MB.
    const pgliteWasmModule = await wasmApi.compile(readFileSync(path.join(pgliteDist(), 'pglite.wasm')));
    const replies = await Promise.allSettled(
      names.map((name, i) => {
        const host = hostOf(i);
        opened.push({ host, id: name });
        return host.request({ op: 'open', id: name, dir: opts.dirs[name], templateDir: opts.templateDir, sharedBuffers: opts.sharedBuffers ?? '16MB', pgliteWasmModule });
      }),
    );
    const failed = replies.flatMap((r, i) => (r.status === 'rejected' ? [`${names[i]}: ${(r.reason as Error).message}`] : []));
    if (failed.length) throw new Error(`embedded databases failed to open:\n  ${failed.join('\n  ')}`);
    const urls = Object.fromEntries(
      replies.map((r, i) => [names[i], `postgresql://postgres@127.0.0.1:${(r as PromiseFulfilledResult<{ port: number }>).value.port}/postgres`]),
    );
    return { urls, timings: { template, open: Date.now() - t }, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * initdb takes seconds of WebAssembly; copying an initialised directory takes milliseconds.
 * The template is built once per machine and PGlite version, in a temporary sibling renamed
 * into place, so a half-built template is never used.
 */
async function ensureTemplate(templateDir: string, host: Host): Promise<void> {
  if (existsSync(path.join(templateDir, 'PG_VERSION'))) return;
  mkdirSync(path.dirname(templateDir), { recursive: true });
  const building = `${templateDir}.building-${process.pid}-${Date.now()}`;
  try {
    await host.request({ op: 'template', dir: building });
    renameSync(building, templateDir);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    // Another process finished its template first; theirs is as good as ours.
    if (!existsSync(path.join(templateDir, 'PG_VERSION'))) throw err;
  }
}
