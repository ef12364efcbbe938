#!/usr/bin/env node
// schema-engine.mjs - stands in for Prisma 7's native `schema-engine` executable, which the CLI
// fetches from Prisma's binary server at first use (not reachable offline). The unmodified CLI
// runs this file through PRISMA_SCHEMA_ENGINE_BINARY, exactly as it runs the native one:
//   schema-engine [--datamodels FILE]... [--datasource JSON] [--enabled-preview-features X]
//   schema-engine --datasource JSON cli can-connect-to-database|create-database|drop-database
// It answers the same JSON-RPC 2.0 protocol (one JSON object a line on stdin/stdout, logs as
// JSON lines on stderr) with the WebAssembly build of the same engine commit that the prisma
// package ships (build/schema_engine_bg.wasm), connected to PostgreSQL through
// @prisma/adapter-pg. The glue code comes from @prisma/schema-engine-wasm (same imports and
// exports).
//
// The one part the wasm build lacks is how a migration script reaches the server; that is
// done here, as PRISMA7_SCRIPT_MODE says:
//   split (default)  Prisma >= 7.4: when the file parses (sqlparser, PostgreSQL dialect), each
//                    statement is its own simple query, committed on its own; when it does not
//                    parse, the whole file is one simple query (one implicit transaction).
//   whole            Prisma < 7.4 (and 6.x): the whole file as one simple query.
// PRISMA7_TRACE=FILE appends each request, answer and script piece to FILE (for debugging).
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const home = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(home, 'package.json'));
const traceFile = process.env.PRISMA7_TRACE;
const trace = (what) => {
  if (traceFile) fs.appendFileSync(traceFile, JSON.stringify({ pid: process.pid, ...what }) + '\n');
};

// ---- command line ----
const args = process.argv.slice(2);
const datamodelFiles = [];
let datasourceUrl = process.env.DATABASE_URL;
let subcommand = null;
for (let i = 0; i < args.length; i++) {
  switch (args[i]) {
    case '--datamodels': datamodelFiles.push(args[++i]); break;
    case '--datasource': datasourceUrl = JSON.parse(args[++i]).url ?? datasourceUrl; break;
    case '--enabled-preview-features': case '--extension-types': i++; break;
    case '--version': case '-V':
      process.stdout.write('schema-engine-cli (migrated test stand-in, wasm engine)\n');
      process.exit(0);
    case 'cli': subcommand = args[++i]; break;
  }
}
trace({ args });

const logError = (message, code) => process.stderr.write(JSON.stringify({
  timestamp: new Date().toISOString(), level: 'ERROR', target: 'schema_engine',
  fields: code ? { message, error_code: code } : { message } }) + '\n');

// ---- `cli ...`: database-level checks the CLI makes before some commands ----
if (subcommand) {
  const { Client } = require('pg');
  const target = new URL(datasourceUrl);
  const dbName = decodeURIComponent(target.pathname.slice(1));
  const onDatabase = async (sql, other) => {
    const u = new URL(datasourceUrl);
    if (other) u.pathname = '/' + other;
    const client = new Client({ connectionString: u.toString() });
    await client.connect();
    try { await client.query(sql); } finally { await client.end(); }
  };
  const quoted = '"' + dbName.replaceAll('"', '""') + '"';
  try {
    if (subcommand === 'can-connect-to-database') await onDatabase('SELECT 1');
    else if (subcommand === 'create-database') await onDatabase('CREATE DATABASE ' + quoted, 'postgres');
    else if (subcommand === 'drop-database') await onDatabase('DROP DATABASE ' + quoted, 'postgres');
    else throw new Error('unsupported cli command ' + subcommand);
    process.stdout.write('{"result":"ok"}\n');
    process.exit(0);
  } catch (e) {
    logError(e.message, e.code === '3D000' ? 'P1003' : e.code === 'ECONNREFUSED' ? 'P1001' : undefined);
    process.exit(1);
  }
}

// ---- statements of a script: split at semicolons outside literals, identifiers, dollar
// quotes and comments; comments before a statement stay with it; a comment-only tail goes ----
export function statements(sql) {
  const out = [];
  let begin = 0, i = 0, code = false;
  const word = (c) => c !== undefined && /[A-Za-z0-9_]/.test(c);
  while (i < sql.length) {
    const c = sql[i], next = sql[i + 1];
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl;
    } else if (c === '/' && next === '*') {
      let depth = 0;
      do {
        if (sql.startsWith('/*', i)) { depth++; i += 2; }
        else if (sql.startsWith('*/', i)) { depth--; i += 2; }
        else i++;
      } while (depth > 0 && i < sql.length);
    } else if (c === "'") {
      const backslashes = (sql[i - 1] === 'e' || sql[i - 1] === 'E') && !word(sql[i - 2]);
      code = true;
      for (i++; i < sql.length; i++) {
        if (backslashes && sql[i] === '\\') { i++; continue; }
        if (sql[i] === "'") { if (sql[i + 1] === "'") { i++; continue; } i++; break; }
      }
    } else if (c === '"') {
      code = true;
      const end = sql.indexOf('"', i + 1);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === '$' && !word(sql[i - 1]) && /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i, i + 64))) {
      const tag = sql.slice(i).match(/^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/)[0];
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? sql.length : end + tag.length;
      code = true;
    } else if (c === ';') {
      out.push(sql.slice(begin, i + 1));
      begin = ++i;
      code = false;
    } else {
      if (!/\s/.test(c)) code = true;
      i++;
    }
  }
  if (code) out.push(sql.slice(begin));
  return out.length ? out : [sql];
}

// ---- the adapter, with the script execution of the native engine ----
const { PrismaPg } = require('@prisma/adapter-pg');
const { bindMigrationAwareSqlAdapterFactory } = require('@prisma/driver-adapter-utils');
const sqlparser = await import(path.join(home, 'node_modules/@guanmingchiu/sqlparser-ts/dist/index.mjs'));
await sqlparser.init();

const pg = new PrismaPg({ connectionString: datasourceUrl, max: 1, idleTimeoutMillis: 0, allowExitOnIdle: true });
const connect = pg.connect.bind(pg);
pg.connect = async (...a) => {
  const adapter = await connect(...a);
  adapter.executeScript = async function (script) {
    let pieces = [script];
    if ((process.env.PRISMA7_SCRIPT_MODE || 'split') === 'split') {
      let parses = true;
      try { sqlparser.validate(script, 'postgresql'); } catch { parses = false; }
      if (parses) pieces = statements(script);
    }
    trace({ script: pieces });
    for (const piece of pieces) {
      try { await this.client.query(piece); } catch (error) { this.onError(error); }
    }
  };
  return adapter;
};

// ---- the engine ----
const glue = await import(path.join(home, 'node_modules/@prisma/schema-engine-wasm/schema_engine_bg.js'));
const wasmFile = path.join(home, 'node_modules/prisma/build/schema_engine_bg.wasm');
const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(wasmFile)),
  { './schema_engine_bg.js': glue });
glue.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start();
const datamodels = datamodelFiles.map((f) => [f, fs.readFileSync(f, 'utf8')]);
const engine = await glue.SchemaEngine.new({ datamodels: datamodels.length ? datamodels : undefined },
  (line) => trace({ log: String(line) }), bindMigrationAwareSqlAdapterFactory(pg));

// The RPC names the CLI uses, where the wasm engine names a method differently.
const renamed = { getDatabaseVersion: 'version' };
const rpcError = (e) => {
  const message = String(e?.message ?? e);
  if (e instanceof WebAssembly.RuntimeError || /unreachable|panicked/i.test(message))
    return { is_panic: true, message, backtrace: e?.stack ?? null };
  if (e && typeof e === 'object' && e.code) return { is_panic: false, message, meta: e.meta ?? {}, error_code: e.code };
  return { is_panic: false, message, backtrace: null };
};
const answer = (obj) => { trace({ answer: obj }); process.stdout.write(JSON.stringify(obj) + '\n'); };

let chain = Promise.resolve();
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  let req;
  try { req = JSON.parse(line); } catch { return; }
  if (!req || req.method === undefined) return;
  trace({ request: req });
  chain = chain.then(async () => {
    const method = renamed[req.method] ?? req.method;
    if (typeof engine[method] !== 'function')
      return answer({ jsonrpc: '2.0', id: req.id, error: { code: -32601, message: 'Method not found: ' + req.method } });
    try {
      const result = await engine[method](req.params ?? {});
      answer({ jsonrpc: '2.0', id: req.id, result: result ?? null });
    } catch (e) {
      answer({ jsonrpc: '2.0', id: req.id,
        error: { code: 4466, message: 'An error happened. Check the data field for details.', data: rpcError(e) } });
    }
  });
});
lines.on('close', () => chain.then(() => process.exit(0)));
