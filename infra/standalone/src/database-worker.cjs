'use strict';
/**
 * A worker thread hosting embedded databases. PGlite (PostgreSQL compiled to WebAssembly)
 * executes queries synchronously on the thread that owns it; here it leaves the HTTP event
 * loop free and lets the databases use the other cores. Plain JavaScript because a worker
 * thread starts without the TypeScript loader (tsx under `npm start`, swc under jest);
 * databases.ts is the typed side of this protocol.
 *
 * In:  { op: 'template', id, dir }   initdb into `dir` (a fresh folder)
 *      { op: 'open', id, dir, templateDir, sharedBuffers, pgliteWasmModule? }
 *                                     copy the template to `dir` when it holds no database,
 *                                     then serve it on 127.0.0.1 (a free port)
 *      { op: 'close', id }            close its socket server, then PGlite (flushes to the folder)
 * Out: { id, type: 'done' | 'ready' (with port) | 'closed' | 'error' (with message) }
 */
const { parentPort } = require('node:worker_threads');
const { cpSync, existsSync, mkdirSync, renameSync, rmSync } = require('node:fs');
const path = require('node:path');
const { PGlite } = require('@electric-sql/pglite');
const { PGLiteSocketServer } = require('@electric-sql/pglite-socket');

const open = new Map();

const ops = {
  async template({ dir }) {
    const db = await PGlite.create({ dataDir: dir });
    await db.close();
    return { type: 'done' };
  },

  async open({ id, dir, templateDir, sharedBuffers, pgliteWasmModule }) {
    if (!existsSync(path.join(dir, 'PG_VERSION'))) {
      // Copied aside and renamed, so an interrupted copy never looks like a database.
      const copying = `${dir}.copying`;
      rmSync(copying, { recursive: true, force: true });
      mkdirSync(path.dirname(dir), { recursive: true });
      cpSync(templateDir, copying, { recursive: true });
      renameSync(copying, dir);
    }
    const db = await PGlite.create({
      dataDir: dir,
      pgliteWasmModule,
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffers}`],
    });
    // Several slots although each service uses one connection at a time (databases.ts): a pool
    // reconnecting right after a close must not be refused while the old slot is released.
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 });
    try {
      await server.start();
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    open.set(id, { db, server });
    return { type: 'ready', port: Number(server.getServerConn().split(':').pop()) };
  },

  async close({ id }) {
    const entry = open.get(id);
    if (entry) {
      open.delete(id);
      await entry.server.stop();
      await entry.db.close();
    }
    return { type: 'closed' };
  },
};

parentPort.on('message', async (msg) => {
  try {
    parentPort.postMessage({ id: msg.id, ...(await ops[msg.op](msg)) });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, type: 'error', message: `${msg.dir ?? msg.id}: ${err && err.message ? err.message : err}` });
  }
});
