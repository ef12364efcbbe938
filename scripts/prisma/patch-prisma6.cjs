// patch-prisma6.cjs - makes the Prisma 6.19.3 CLI run offline with its WebAssembly schema engine
// (engine "js" with @prisma/adapter-pg) and behave as the native engine does where the two
// differ. Applied by scripts/prisma-cli.sh to the installed files, always from pristine copies
// (*.orig), so running it twice is harmless. Each edit must match exactly once, or it fails.
//   node patch-prisma6.cjs NODE_MODULES_DIR
const fs = require('fs');
const path = require('path');
const root = process.argv[2];

function edit(file, edits) {
  const orig = file + '.orig';
  if (!fs.existsSync(orig)) fs.copyFileSync(file, orig);
  let text = fs.readFileSync(orig, 'utf8');
  for (const [why, from, to] of edits) {
    if (text.split(from).length !== 2) throw new Error(`${path.basename(file)}: "${why}": the code to change is not there once`);
    text = text.replace(from, to);
  }
  fs.writeFileSync(file, text);
}

const scriptAsOneQuery = '  async executeScript(script) {\n';
for (const f of ['index.js', 'index.mjs']) {
  edit(path.join(root, '@prisma/adapter-pg/dist', f), [
    // The engine's catalog queries return columns of type `name` (OID 19), unknown to the
    // adapter: read them as text, as the native engine does.
    ['unknown column types are text', '      throw new UnsupportedNativeDataType(fieldTypeId);', '      return 7; /* text: migrated test patch */'],
    // The native 6.x engine sends a whole migration.sql as one simple query (one implicit
    // transaction); the adapter splits it at every ';'.
    ['a script is one query', scriptAsOneQuery,
      scriptAsOneQuery + '    try { await this.client.query(script); } catch (error) { this.onError(error); } return; /* migrated test patch */\n'],
  ]);
}
edit(path.join(root, 'prisma/build/index.js'), [
  // The wasm engine arms a 10 s timer for the advisory lock and never clears it, so the CLI
  // would linger 10 s after every command: let the process exit without waiting for it.
  ['the lock timer does not keep the process alive', '{return setTimeout(e,r>>>0)}',
    '{const t=setTimeout(e,r>>>0);t.unref&&t.unref();return t}'],
  // `resolve --rolled-back` checks connectivity with the native engine binary even when an
  // adapter is configured (`--applied` does not): skip that check with an adapter, like --applied.
  ['resolve --rolled-back needs no native engine',
    ';await Zw(a.primaryDatasource);let c=await wn.setup({schemaEngineConfig:n,migrationsDirPath:o,schemaContext:a,extensions:n.extensions});try{await c.markMigrationRolledBack',
    ';u||await Zw(a.primaryDatasource);let c=await wn.setup({schemaEngineConfig:n,migrationsDirPath:o,schemaContext:a,extensions:n.extensions});try{await c.markMigrationRolledBack'],
]);
console.log('patched Prisma 6 in ' + root);
