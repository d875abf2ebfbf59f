import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

/**
 * Standalone's chain survives a restart by journal and replay: Hardhat 2 keeps its chain in
 * memory and has no state dump, so every call that changes chain state reaches the node
 * through a JSON-RPC proxy that appends it to `<data>/chain/journal.jsonl` with the block it
 * led to; a restart starts a node with the same genesis (same accounts, same genesis time) and
 * sends the journal again in order, each block at its recorded timestamp, which reproduces
 * every transaction hash, contract address and block hash. Replay checks each entry's block
 * hash and stops at the first difference.
 */

export const JOURNAL_FILE = 'journal.jsonl';

export interface RpcCall {
  jsonrpc?: string;
  id?: unknown;
  method: string;
  params?: unknown[];
}

export interface RpcReply {
  jsonrpc: '2.0';
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export interface BlockRef {
  number: number;
  hash: string;
  timestamp: number;
}

export type JournalLine =
  | { t: 'genesis'; chainId: number; hash: string; timestamp: number }
  /** A state-changing call; `firstTimestamp` when it mined blocks (the first one's time), `head` the latest block after it. */
  | { t: 'call'; method: string; params: unknown[]; ok: boolean; txHash?: string; firstTimestamp?: number; head: BlockRef }
  | { t: 'deployment'; usdcAddress: string; treasuryAddress: string };

/** Methods that make blocks or state outside the journal's order: answered with an error. */
const REFUSED = new Set(['hardhat_reset', 'evm_setIntervalMining']);
/** Hardhat's extension methods that change no chain state (every other evm_* / hardhat_* is journaled). */
const READ_ONLY_EXTENSIONS = new Set(['hardhat_getAutomine', 'hardhat_metadata', 'hardhat_setLoggingEnabled', 'hardhat_addCompilationResult', 'hardhat_getStackTraceFailuresCount']);
const SENDS = new Set(['eth_sendRawTransaction', 'eth_sendTransaction']);

export function changesChainState(method: string): boolean {
  return SENDS.has(method) || ((method.startsWith('evm_') || method.startsWith('hardhat_')) && !READ_ONLY_EXTENSIONS.has(method));
}

let nextId = 1;
/** One JSON-RPC call to the node; a JSON-RPC error comes back in the reply, a transport failure throws. */
export async function callNode(url: string, call: RpcCall, timeoutMs = 60_000): Promise<RpcReply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: call.id ?? nextId++, method: call.method, params: call.params ?? [] }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return (await res.json()) as RpcReply;
}

async function resultOf<T>(url: string, method: string, params: unknown[]): Promise<T> {
  const reply = await callNode(url, { method, params });
  if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
  return reply.result as T;
}

export async function blockAt(url: string, tag: number | 'latest'): Promise<BlockRef> {
  const b = await resultOf<{ number: string; hash: string; timestamp: string } | null>(url, 'eth_getBlockByNumber', [typeof tag === 'number' ? `0x${tag.toString(16)}` : tag, false]);
  if (!b) throw new Error(`block ${tag} not found`);
  return { number: Number(b.number), hash: b.hash, timestamp: Number(b.timestamp) };
}

export class Journal {
  constructor(readonly file: string) {}

  append(line: JournalLine): void {
    appendFileSync(this.file, `${JSON.stringify(line)}\n`);
  }

  /** Starts a new journal (replacing any file of that name). */
  begin(genesis: Extract<JournalLine, { t: 'genesis' }>): void {
    writeFileSync(this.file, `${JSON.stringify(genesis)}\n`, { mode: 0o600 });
  }

  /**
   * The journal's lines. A last line cut short (the process died while appending) is dropped
   * and the file rewritten without it, so later appends start on a line of their own; any
   * other unreadable line throws.
   */
  read(): JournalLine[] {
    const text = readFileSync(this.file, 'utf8');
    const raw = text.split('\n');
    if (raw[raw.length - 1] === '') raw.pop();
    const lines: JournalLine[] = [];
    for (const [i, l] of raw.entries()) {
      try {
        lines.push(JSON.parse(l) as JournalLine);
      } catch {
        if (i < raw.length - 1) throw new Error(`${this.file} line ${i + 1} is not JSON`);
        writeFileSync(`${this.file}.tmp`, lines.map((x) => `${JSON.stringify(x)}\n`).join(''), { mode: 0o600 });
        renameSync(`${this.file}.tmp`, this.file);
      }
    }
    return lines;
  }
}

/**
 * Sends the journal's calls to a node started with the journal's genesis, each mined block at
 * its recorded timestamp; throws at the first entry whose outcome (refused or not, transaction
 * hash, latest block number and hash) differs from the journal's.
 */
export async function replayJournal(nodeUrl: string, lines: JournalLine[]): Promise<{ calls: number; head: BlockRef }> {
  const genesis = lines[0];
  if (genesis?.t !== 'genesis') throw new Error('the journal does not start with its genesis line');
  const g = await blockAt(nodeUrl, 0);
  if (g.hash !== genesis.hash) throw new Error(`genesis block ${g.hash}, the journal's is ${genesis.hash}`);
  let head = g;
  let calls = 0;
  for (const [i, line] of lines.entries()) {
    if (line.t !== 'call') continue;
    if (line.firstTimestamp !== undefined) await resultOf(nodeUrl, 'evm_setNextBlockTimestamp', [line.firstTimestamp]);
    const reply = await callNode(nodeUrl, { method: line.method, params: line.params });
    head = await blockAt(nodeUrl, 'latest');
    const txHash = SENDS.has(line.method) && typeof reply.result === 'string' ? reply.result : undefined;
    if (!reply.error !== line.ok || txHash !== line.txHash || head.number !== line.head.number || head.hash !== line.head.hash) {
      throw new Error(
        `line ${i + 1} (${line.method}) replayed as ${reply.error ? `refused (${reply.error.message})` : 'accepted'}${txHash ? ` tx ${txHash}` : ''}, block ${head.number} ${head.hash}; ` +
          `the journal says ${line.ok ? 'accepted' : 'refused'}${line.txHash ? ` tx ${line.txHash}` : ''}, block ${line.head.number} ${line.head.hash}`,
      );
    }
    calls++;
  }
  return { calls, head };
}

export interface JournalingProxy {
  url: string;
  port: number;
  /** Waits for state-changing calls in progress, then closes. */
  close(): Promise<void>;
}

/**
 * The RPC address every part of the platform uses: reads pass through to the node; calls that
 * change chain state go one at a time (so the latest block after one is the one it mined) and
 * are journaled before their answer is sent.
 */
export async function startJournalingProxy(opts: { nodeUrl: string; port: number; journal: Journal; head: BlockRef }): Promise<JournalingProxy> {
  let head = opts.head;
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const changeState = (call: RpcCall) =>
    oneAtATime(async () => {
      const reply = await callNode(opts.nodeUrl, call);
      const after = await blockAt(opts.nodeUrl, 'latest');
      // A refused call that changed nothing is not journaled; anything else is, refused or not.
      if (reply.error && after.number === head.number && after.hash === head.hash) return reply;
      const firstTimestamp = after.number > head.number ? (after.number === head.number + 1 ? after : await blockAt(opts.nodeUrl, head.number + 1)).timestamp : undefined;
      const txHash = SENDS.has(call.method) && typeof reply.result === 'string' ? reply.result : undefined;
      opts.journal.append({ t: 'call', method: call.method, params: call.params ?? [], ok: !reply.error, ...(txHash ? { txHash } : {}), ...(firstTimestamp !== undefined ? { firstTimestamp } : {}), head: after });
      head = after;
      return reply;
    });

  const handle = async (call: unknown): Promise<RpcReply> => {
    const c = call as RpcCall;
    const id = (c && typeof c === 'object' && 'id' in c ? c.id : null) ?? null;
    if (!c || typeof c !== 'object' || typeof c.method !== 'string') return { jsonrpc: '2.0', id, error: { code: -32600, message: 'Invalid request' } };
    try {
      if (REFUSED.has(c.method)) return { jsonrpc: '2.0', id, error: { code: -32601, message: `${c.method} is not available on standalone's journaled chain` } };
      return changesChainState(c.method) ? await changeState(c) : await callNode(opts.nodeUrl, c);
    } catch (err) {
      return { jsonrpc: '2.0', id, error: { code: -32603, message: `standalone chain: ${err instanceof Error ? err.message : String(err)}` } };
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let answer: RpcReply | RpcReply[];
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          if (Array.isArray(body)) {
            answer = [];
            // In order: a batch may read what an earlier call in it wrote.
            for (const call of body) answer.push(await handle(call));
          } else answer = await handle(body);
        } catch {
          answer = { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } };
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      await queue;
    },
  };
}
