#!/usr/bin/env bash
# scripts/build-web.sh — builds the web dashboard: `npm run build` in web/ (the TypeScript check,
# then vite) writes web/dist, which capstan-api-server serves with --static-assets web/dist.
#
# Skipped when web/dist/index.html is newer than every file of web/ outside node_modules/ and
# dist/ (a failed build leaves no newer index.html, so it is retried). FORCE=1 builds anyway.
# Needs web/node_modules: e2e/scripts/install-deps.sh installs it (npm ci).
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ ! -d node_modules ]; then
  echo "build-web: web/node_modules is missing: run e2e/scripts/install-deps.sh (npm ci in web/)" >&2
  exit 1
fi
if [ "${FORCE:-0}" != 1 ] && [ -f dist/index.html ] &&
   [ -z "$(find . \( -path ./node_modules -o -path ./dist \) -prune -o -type f -newer dist/index.html -print -quit)" ]; then
  echo "build-web: web/dist is up to date" >&2
  exit 0
fi
npm run build
[ -f dist/index.html ] || { echo "build-web: npm run build wrote no web/dist/index.html" >&2; exit 1; }
