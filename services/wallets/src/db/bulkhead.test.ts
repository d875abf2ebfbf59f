import { AppError } from '@platform/http';
import { Bulkhead } from './bulkhead';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};
const tick = () => new Promise((r) => setImmediate(r));

describe('bulkhead', () => {
  it('runs at most `limit` at once and admits waiters in arrival order', async () => {
    const b = new Bulkhead(2, 10);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((g, i) => b.run(async () => { started.push(i); await g.promise; return i; }));
    await tick();
    expect(started).toEqual([0, 1]);
    expect(b.queued).toBe(2);
    gates[1].resolve();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[0].resolve();
    gates[2].resolve();
    gates[3].resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(b.queued).toBe(0);
  });

  it('frees the slot when the work fails', async () => {
    const b = new Bulkhead(1, 1);
    await expect(b.run(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await b.run(async () => 'next')).toBe('next');
  });

  it('refuses with 503 once the queue is full', async () => {
    const b = new Bulkhead(1, 1);
    const gate = deferred();
    const first = b.run(() => gate.promise);
    const second = b.run(async () => 'queued');
    const err = await b.run(async () => 'refused').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(503);
    gate.resolve();
    await first;
    expect(await second).toBe('queued');
  });
});
