#!/usr/bin/env bash
# docker/stages/web.sh deps|build — the commands of docker/Dockerfile's `web` stage, run in a copy
# of web/ (the current directory). docker/check-stages.sh runs the same script without Docker.
#
#   deps   npm ci from package.json + package-lock.json; --ignore-scripts: no install script
#          is needed (esbuild's binary comes as an optional dependency) and none runs.
#   build  npm run build (tsc checks, then vite) → dist/, which the images serve from
#          /usr/share/capstan/web.
set -euo pipefail
case ${1:-} in
  deps)
    npm ci --ignore-scripts --no-audit --no-fund
    ;;
  build)
    npm run build
    [ -f dist/index.html ] || { echo "web.sh: npm run build wrote no dist/index.html" >&2; exit 1; }
    ;;
  *)
    echo "usage: web.sh deps|build (in a copy of web/)" >&2
    exit 2
    ;;
esac
