import { freePort } from './ports';

describe('freePort', () => {
  it('never hands out the same port twice in one process, even before anything listens on it', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 200; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });

  it("keeps a jest worker's draws inside its own slice of the window, disjoint from other workers'", async () => {
    const saved = process.env.JEST_WORKER_ID;
    try {
      const drawn = new Map<string, number[]>();
      for (const worker of ['1', '2']) {
        process.env.JEST_WORKER_ID = worker;
        const ports: number[] = [];
        for (let i = 0; i < 30; i++) ports.push(await freePort());
        drawn.set(worker, ports);
      }
      const [a, b] = [drawn.get('1')!, drawn.get('2')!];
      expect(Math.max(...a)).toBeLessThan(Math.min(...b));
    } finally {
      process.env.JEST_WORKER_ID = saved;
    }
  });
});
