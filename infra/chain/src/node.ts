import { spawn, ChildProcess } from 'node:child_process';
import { freePort } from './ports';
import path from 'node:path';

/** Hardhat 2's chain id for its in-memory network; the platform's local chain everywhere. */
export const LOCAL_CHAIN_ID = 31337;
const CHAIN_DIR = path.join(__dirname, '..');

/** Calls one JSON-RPC method; answers null when nothing answers at `url` (or not JSON-RPC). */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = [], timeoutMs = 2_000): Promise<T | null> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result ?? null;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(`${method}:`)) throw err;
    return null;
  }
}

/** The chain id the node at `url` reports, or null when none answers. */
export async function chainIdAt(url: string): Promise<number | null> {
  const hex = await rpc<string>(url, 'eth_chainId');
  return hex ? Number(BigInt(hex)) : null;
}

export interface LocalNode {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export interface StartNodeOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** How long to wait for the node to answer eth_chainId. */
  readyTimeoutMs?: number;
  /** Where the node's output goes; default: discarded (kept for the error message on failure). */
  onOutput?: (chunk: string) => void;
  /** The genesis block's timestamp (seconds); default: now. Same accounts + same date = same genesis hash. */
  genesisTimestamp?: number;
}

/**
 * Starts `hardhat node` (Hardhat 2: it runs on Node 20 and offline) as a child process and
 * waits until it answers JSON-RPC. Its chain lives in memory: a restart is a fresh chain.
 */
export async function startHardhatNode(opts: StartNodeOptions = {}): Promise<LocalNode> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port || (await freePort(host));
  const cli = require.resolve('hardhat/internal/cli/cli.js', { paths: [CHAIN_DIR] });
  const child: ChildProcess = spawn(process.execPath, [cli, 'node', '--hostname', host, '--port', String(port)], {
    cwd: CHAIN_DIR,
    env: {
      ...process.env,
      HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true',
      FORCE_COLOR: '0',
      HARDHAT_INITIAL_DATE: opts.genesisTimestamp !== undefined ? new Date(opts.genesisTimestamp * 1000).toISOString() : '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    const s = chunk.toString();
    if (output.length < 20_000) output += s;
    opts.onOutput?.(s);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  // A node listening on every interface is checked (and reached from here) on loopback.
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  let done = false;
  exited.then(() => (done = true));
  while (!done && Date.now() < deadline) {
    if ((await chainIdAt(url)) === LOCAL_CHAIN_ID) {
      // Past start-up the output is not needed; drop it rather than buffer forever.
      child.stdout?.removeListener('data', keep);
      child.stdout?.resume();
      return {
        url,
        port,
        pid: child.pid!,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        },
      };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`hardhat node did not answer at ${url} (chain id ${LOCAL_CHAIN_ID}) ${done ? 'and exited' : `within ${opts.readyTimeoutMs ?? 60_000} ms`}:\n${output.slice(-2_000)}`);
}
