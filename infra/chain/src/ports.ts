import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * A port that is free now, for a server that will listen on it a little later (a child
 * process, or a part whose URL is configuration for the others).
 *
 * It is picked OUTSIDE the kernel's ephemeral range. A port from `listen(0)` comes from that
 * range, and between closing the probe and the real listen, any outgoing connection on the
 * machine (a pg pool, a Kafka client, another test worker) may be handed the same number as
 * its local port, and the listen fails with EADDRINUSE. Ports outside the range are only
 * ever taken by an explicit bind, so the remaining race is two callers drawing the same
 * random number before either binds. Two rules close that:
 * - a process never hands out the same port twice (a caller may pick several ports before
 *   anything listens on them: the standalone fleet picks nine, then starts its databases);
 * - concurrent jest workers draw from disjoint slices of the window (JEST_WORKER_ID), so one
 *   worker's picked-but-not-yet-bound port is never another's draw.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [lo, hi] = portSlice(nonEphemeralWindow());
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (handedOut.has(port)) continue;
    if (await canBind(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  // Every draw was taken: fall back to the kernel's choice rather than fail.
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const handedOut = new Set<number>();
const SLICES = 8;

/** This process's share of the window: a jest worker's own slice, else the whole window. */
function portSlice([lo, hi]: [number, number]): [number, number] {
  const worker = Number(process.env.JEST_WORKER_ID);
  if (!Number.isInteger(worker) || worker < 1) return [lo, hi];
  const width = Math.floor((hi - lo) / SLICES);
  const start = lo + ((worker - 1) % SLICES) * width;
  return [start, start + width];
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** The larger of the windows below and above the ephemeral range, with well-known ports left out. */
function nonEphemeralWindow(): [number, number] {
  let lo = 32768;
  let hi = 60999;
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(a) && Number.isInteger(b) && a <= b) [lo, hi] = [a, b];
  } catch {
    // Not Linux: the IANA dynamic range is the usual ephemeral one.
    [lo, hi] = [49152, 65535];
  }
  const below: [number, number] = [20000, lo];
  const above: [number, number] = [hi + 1, 65536];
  return below[1] - below[0] >= above[1] - above[0] ? below : above;
}
