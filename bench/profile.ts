import { readFileSync } from 'node:fs';

/** The parts of a V8 .cpuprofile this summary reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  process: string;
  /** Sampled wall time, ms. */
  totalMs: number;
  /** Share of the sampled time the process was busy (not idle). */
  busyShare: number;
  /** Self time by owner of the code (package, platform library, service file, node core, GC; native code counts for its caller), share of busy time. */
  byOwner: { owner: string; share: number }[];
  /** Hottest functions by self time, share of busy time. */
  byFunction: { fn: string; share: number }[];
}

/** Who owns a frame: a package from node_modules, a platform library, a service file, node core, or V8. */
export function ownerOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return 'V8 garbage collector';
    if (functionName === '(program)') return 'V8/native (program)';
    if (functionName === '(idle)') return '(idle)';
    return `native ${functionName || '(anonymous)'}`;
  }
  if (url.startsWith('wasm://')) return 'wasm (Prisma query compiler)';
  if (url.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([^/]+)/.exec(url);
    return `node:${m?.[1] ?? url}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const platform = /\/(libs|services)\/([^/]+)\/src\/(.+)$/.exec(url);
  if (platform) return platform[1] === 'libs' ? `@platform/${platform[2]}` : `${platform[2]}: ${platform[3]}`;
  const gw = /\/gateway\/src\/(.+)$/.exec(url);
  if (gw) return `gateway: ${gw[1]}`;
  if (url.includes('/bench/processes/cpu-profile-hook')) return '(profiler)';
  const bench = /\/bench\/(.+)$/.exec(url);
  if (bench) return `bench: ${bench[1]}`;
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(process: string, file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Node core and native frames (socket writes, hashing, buffers) are charged to the nearest
  // package or platform file up the stack that called them; only what no such code called
  // (the HTTP parser on an incoming request, timers) stays with node itself.
  const isCore = (o: string) => o.startsWith('node:') || o.startsWith('native ');
  const ownerMemo = new Map<number, string | null>();
  const callerOwner = (id: number): string | null => {
    if (ownerMemo.has(id)) return ownerMemo.get(id)!;
    const n = byId.get(id)!;
    const own = ownerOf(n.callFrame.url, n.callFrame.functionName);
    const up = parent.get(id);
    const found = !isCore(own) && n.callFrame.functionName !== '(root)' ? own : up !== undefined ? callerOwner(up) : null;
    ownerMemo.set(id, found);
    return found;
  };
  const ownerOfNode = (id: number): string => {
    const n = byId.get(id)!;
    const own = ownerOf(n.callFrame.url, n.callFrame.functionName);
    if (!isCore(own)) return own;
    const up = parent.get(id);
    if (up !== undefined) {
      const c = callerOwner(up);
      if (c && c !== '(idle)' && !c.startsWith('V8')) return c;
    }
    // Nothing but node itself on the stack: name the innermost node module.
    let x: number | undefined = id;
    while (x !== undefined) {
      const o = ownerOf(byId.get(x)!.callFrame.url, byId.get(x)!.callFrame.functionName);
      if (o.startsWith('node:')) return o;
      x = parent.get(x);
    }
    return own;
  };
  const owners = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  let idle = 0;
  // timeDeltas[i] is the time *before* sample i; the time a sample stands for is the gap to the next one.
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    const n = byId.get(p.samples[i]);
    if (!n) continue;
    total += dt;
    const { functionName, url, lineNumber } = n.callFrame;
    const owner = ownerOfNode(n.id);
    if (owner === '(idle)' || owner === '(profiler)') {
      idle += dt;
      continue;
    }
    owners.set(owner, (owners.get(owner) ?? 0) + dt);
    const short = url ? `${url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(libs|services|gateway)\//, '$1/')}:${lineNumber + 1}` : '';
    const fn = `${functionName || '(anonymous)'} ${short || `[${owner}]`}`.trim();
    fns.set(fn, (fns.get(fn) ?? 0) + dt);
  }
  const busy = total - idle || 1;
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => ({ k, share: v / busy }));
  return {
    process,
    totalMs: total / 1000,
    busyShare: total ? (total - idle) / total : 0,
    byOwner: rank(owners).map(({ k, share }) => ({ owner: k, share })),
    byFunction: rank(fns).map(({ k, share }) => ({ fn: k, share })),
  };
}
