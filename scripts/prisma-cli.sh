#!/usr/bin/env bash
# scripts/prisma-cli.sh - the real Prisma CLIs the interop tests run against, installed offline
# from the npm registry (engines are never downloaded: Prisma's binary server is not reachable
# from CI), once, under $PRISMA_CLI_DIR (default /var/tmp/migrated-prisma):
#   6.19.3  prisma6 PROJECT_DIR ARGS...  the WebAssembly schema engine through @prisma/adapter-pg
#           (engine "js"), patched to behave as the native engine (scripts/prisma/patch-prisma6.cjs)
#   7.10.1  prisma7 PROJECT_DIR ARGS...  the unmodified CLI; its native schema engine is replaced
#           by scripts/prisma/schema-engine.mjs, which runs the wasm build of the same engine commit
#           and sends scripts statement by statement as 7.4+ does (PRISMA7_SCRIPT_MODE=whole: < 7.4)
# A project dir holds prisma/schema.prisma and prisma/migrations/; the wrappers add a
# prisma.config.ts (and a node_modules link) when the project has none. DATABASE_URL is the target.
#   scripts/prisma-cli.sh [6|7]...   prints "VERSION WRAPPER" per CLI; exit 1 if one fails
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${PRISMA_CLI_DIR:-/var/tmp/migrated-prisma}
[ $# -gt 0 ] || set -- 6 7
status=0

install6() {
  local d=$dest/6.19.3
  mkdir -p "$d"
  cat >"$d/package.json" <<'JSON'
{ "name": "migrated-prisma6", "private": true,
  "dependencies": { "prisma": "6.19.3", "@prisma/adapter-pg": "6.19.3", "pg": "8.23.1" } }
JSON
  (cd "$d" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >"$d/npm.log" 2>&1) || return 1
  node "$here/prisma/patch-prisma6.cjs" "$d/node_modules" >>"$d/npm.log"
  : >"$d/no-query-engine.node" # migrate never loads the query engine; the CLI only wants a path
  cat >"$d/prisma.config.ts" <<'TS'
// Prisma 6 test project config: the wasm schema engine through node-postgres, one connection
// held for the whole command as the native engine holds one.
import path from "node:path";
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";
export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: path.join("prisma", "schema.prisma"),
  async adapter() {
    return new PrismaPg({ connectionString: process.env.DATABASE_URL, max: 1, idleTimeoutMillis: 0, allowExitOnIdle: true });
  },
});
TS
  cat >"$d/prisma6" <<SH
#!/bin/sh
# prisma6 PROJECT_DIR ARGS... : Prisma 6.19.3 in PROJECT_DIR (see scripts/prisma-cli.sh)
proj=\$1; shift
[ -e "\$proj/node_modules" ] || ln -s "$d/node_modules" "\$proj/node_modules"
[ -e "\$proj/prisma.config.ts" ] || cp "$d/prisma.config.ts" "\$proj/prisma.config.ts"
cd "\$proj" && PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1 \\
  PRISMA_QUERY_ENGINE_LIBRARY="$d/no-query-engine.node" PRISMA_SCHEMA_ENGINE_BINARY=/bin/false \\
  exec node "$d/node_modules/prisma/build/index.js" "\$@"
SH
  chmod +x "$d/prisma6"
}

install7() {
  local d=$dest/7.10.1
  mkdir -p "$d"
  cat >"$d/package.json" <<'JSON'
{ "name": "migrated-prisma7", "private": true,
  "dependencies": { "prisma": "7.10.1", "@prisma/adapter-pg": "7.10.1", "@prisma/driver-adapter-utils": "7.10.1",
                    "pg": "8.23.1", "@prisma/schema-engine-wasm": "8.1.0-2.59be4fda12412a79eeb9c2ae727b6aa723593323",
                    "@guanmingchiu/sqlparser-ts": "0.61.1" } }
JSON
  (cd "$d" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >"$d/npm.log" 2>&1) || return 1
  # The stand-in runs the wasm that this very CLI ships: check it is the engine commit 7.10.1 names.
  local commit
  commit=$(node -p "require('$d/node_modules/@prisma/engines-version/package.json').prisma.enginesVersion" 2>/dev/null || true)
  if [ -n "$commit" ] && ! grep -aq "$commit" "$d/node_modules/prisma/build/schema_engine_bg.wasm"; then
    echo "prisma-cli: the wasm engine in prisma 7.10.1 is not commit $commit" >>"$d/npm.log"; return 1
  fi
  cp "$here/prisma/schema-engine.mjs" "$d/schema-engine.mjs"
  chmod +x "$d/schema-engine.mjs"
  cat >"$d/prisma.config.ts" <<'TS'
// Prisma 7 test project config: Prisma 7 takes the URL from here (schema.prisma has none).
import { defineConfig, env } from "prisma/config";
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: env("DATABASE_URL") },
});
TS
  cat >"$d/prisma7" <<SH
#!/bin/sh
# prisma7 PROJECT_DIR ARGS... : Prisma 7.10.1 in PROJECT_DIR (see scripts/prisma-cli.sh)
proj=\$1; shift
[ -e "\$proj/node_modules" ] || ln -s "$d/node_modules" "\$proj/node_modules"
[ -e "\$proj/prisma.config.ts" ] || cp "$d/prisma.config.ts" "\$proj/prisma.config.ts"
cd "\$proj" && PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1 \\
  PRISMA_SCHEMA_ENGINE_BINARY="$d/schema-engine.mjs" \\
  exec node "$d/node_modules/prisma/build/index.js" "\$@"
SH
  chmod +x "$d/prisma7"
}

for v in "$@"; do
  case $v in
    6) name=6.19.3 wrapper=$dest/6.19.3/prisma6 fn=install6 ;;
    7) name=7.10.1 wrapper=$dest/7.10.1/prisma7 fn=install7 ;;
    *) echo "prisma-cli: unknown version $v (6 or 7)" >&2; status=1; continue ;;
  esac
  # Reinstalled when this script or its files changed since (the stamp records their hash).
  stamp=$(cat "$0" "$here"/prisma/* | sha256sum | cut -c1-16)
  if [ ! -x "$wrapper" ] || [ "$(cat "$dest/$name/.stamp" 2>/dev/null)" != "$stamp" ]; then
    if ! $fn; then
      echo "prisma-cli: installing Prisma $name failed: $(tail -n 5 "$dest/$name/npm.log" 2>/dev/null)" >&2
      status=1; continue
    fi
    echo "$stamp" >"$dest/$name/.stamp"
  fi
  echo "$name $wrapper"
done
exit $status
