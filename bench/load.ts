import http from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * The load generator: node:http over keep-alive agents, loopback only.
 *
 * - closed loop: N connections, each sends its next request when the previous answered;
 *   the count of 2xx answers per second is the maximum throughput.
 * - open model: requests are scheduled on a fixed timeline (i / rate) whatever the answers do,
 *   and latency is measured from the *scheduled* time, so a stall in the system under test
 *   shows up as latency for every request that should have been sent during it
 *   (coordinated-omission-safe, as wrk2 does). The agent opens as many sockets as the backlog
 *   needs (up to maxSockets), so a slow answer never holds the next request back.
 *
 * autocannon was not used: its rate options throttle a closed loop per connection and time
 * each request from its actual send, which hides stalls (coordinated omission).
 */

export interface Target {
  name: string;
  port: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Collect the X-ACF-Usage-Id of every 2xx answer (the metered targets). */
  usageIds?: Set<string>;
  /** Usage ids answered more than once (a duplicate charge would show here). */
  duplicateUsageIds?: string[];
}

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
}

export interface RunResult {
  target: string;
  mode: 'closed' | 'open';
  /** Wall time from the first send to the last answer, seconds. */
  seconds: number;
  sent: number;
  ok: number;
  errors: number;
  /** Status codes (or error codes) of the failures, with counts. */
  failures: Record<string, number>;
  /** 2xx answers per second. */
  throughput: number;
  /** Milliseconds; open model: from the scheduled send time. */
  latencies: Float64Array;
  /** Open model only: how late the generator itself sent each request (ms). */
  sendLag?: Float64Array;
  rate?: number;
}

const HOST = '127.0.0.1';

interface Reply {
  ok: boolean;
  code: string;
}

function send(t: Target, agent: http.Agent, timeoutMs: number, onSent?: () => void): Promise<Reply> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Reply) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const req = http.request(
      { host: HOST, port: t.port, method: t.method, path: t.path, headers: { ...t.headers, 'content-length': String(t.body.length) }, agent },
      (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        if (ok && t.usageIds) {
          const id = res.headers['x-acf-usage-id'];
          if (typeof id === 'string') {
            if (t.usageIds.has(id)) t.duplicateUsageIds?.push(id);
            t.usageIds.add(id);
          }
        }
        res.on('data', () => undefined);
        res.on('end', () => done({ ok, code: String(status) }));
        res.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, code: err.code ?? 'response_error' }));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, code: err.code ?? 'request_error' }));
    req.end(t.body);
    onSent?.();
  });
}

function newAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'fifo' });
}

export interface ClosedOptions {
  connections: number;
  seconds: number;
  timeoutMs: number;
  /** Hard cap on requests, whatever the duration. */
  maxRequests: number;
}

/** Maximum throughput: N connections back to back for a bounded time and count. */
export async function closedLoop(t: Target, o: ClosedOptions): Promise<RunResult> {
  const agent = newAgent(o.connections);
  const lat: number[] = [];
  const failures: Record<string, number> = {};
  let sent = 0;
  let ok = 0;
  const start = performance.now();
  const deadline = start + o.seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline && sent < o.maxRequests) {
      sent++;
      const t0 = performance.now();
      const r = await send(t, agent, o.timeoutMs);
      lat.push(performance.now() - t0);
      if (r.ok) ok++;
      else failures[r.code] = (failures[r.code] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return { target: t.name, mode: 'closed', seconds, sent, ok, errors: sent - ok, failures, throughput: ok / seconds, latencies: Float64Array.from(lat) };
}

export interface OpenOptions {
  rate: number;
  seconds: number;
  timeoutMs: number;
  maxSockets: number;
}

/** Latency at a fixed arrival rate, timed from each request's scheduled send time. */
export async function openLoop(t: Target, o: OpenOptions): Promise<RunResult> {
  const agent = newAgent(o.maxSockets);
  const total = Math.max(1, Math.round(o.rate * o.seconds));
  const interval = 1000 / o.rate;
  const lat = new Float64Array(total);
  const lag = new Float64Array(total);
  const failures: Record<string, number> = {};
  let ok = 0;
  let answered = 0;
  const start = performance.now() + 5;
  let i = 0;
  let cut = false;
  let allAnswered!: () => void;
  const finished = new Promise<void>((r) => (allAnswered = r));

  const fire = (n: number) => {
    const due = start + n * interval;
    void send(t, agent, o.timeoutMs, () => (lag[n] = performance.now() - due)).then((r) => {
      if (cut) return;
      lat[n] = performance.now() - due;
      if (r.ok) ok++;
      else failures[r.code] = (failures[r.code] ?? 0) + 1;
      if (++answered === total) allAnswered();
    });
  };
  await new Promise<void>((scheduled) => {
    const tick = () => {
      const now = performance.now();
      // Catch up on everything that is due: a late timer never thins the schedule out.
      while (i < total && start + i * interval <= now) fire(i++);
      if (i >= total) return scheduled();
      setTimeout(tick, Math.max(0, Math.floor(start + i * interval - performance.now())));
    };
    setTimeout(tick, 5);
  });
  // Every request has its own socket timeout; requests still queued for a socket after that are cut off here.
  let guard: NodeJS.Timeout | undefined;
  const cutOff = new Promise<void>((r) => (guard = setTimeout(r, 2 * o.timeoutMs)));
  await Promise.race([finished, cutOff]);
  clearTimeout(guard);
  cut = true;
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  const unanswered = total - answered;
  if (unanswered > 0) {
    failures.UNANSWERED = unanswered;
    for (let n = 0; n < total; n++) if (!lat[n]) lat[n] = performance.now() - (start + n * interval);
  }
  return { target: t.name, mode: 'open', seconds, sent: total, ok, errors: total - ok, failures, throughput: ok / seconds, latencies: lat, sendLag: lag, rate: o.rate };
}

/** Nearest-rank percentiles of the given samples (ms). */
export function summarize(samples: Float64Array | number[]): Latency {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  if (!n) return { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN, count: 0 };
  const at = (p: number) => s[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  let sum = 0;
  for (const v of s) sum += v;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: s[n - 1], mean: sum / n, count: n };
}

export function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}
