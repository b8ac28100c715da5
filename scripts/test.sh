#!/usr/bin/env bash
# scripts/test.sh — the whole Capstan test suite, from a fresh Debian 12 machine with Rust.
#
#   1. installs what the tests need (apt, npm, the cached kube-apiserver build) — idempotent;
#   2. builds the web dashboard (web/ → web/dist, skipped when current) and runs its unit tests;
#   3. cargo fmt --check and clippy -D warnings over every target; the Dockerfile linted and
#      its stages' commands run (docker/lint.sh, docker/check-stages.sh);
#   4. starts the real test environment (etcd, kube-apiserver, kube-controller-manager, pod
#      simulator, Redis, Git over HTTP) — or uses the cluster named by KUBECONFIG;
#   5. runs every unit, integration and end-to-end test with cargo nextest (and the doc tests);
#   6. stops the environment it started.
# Exits non-zero on any failure; the last line printed is nextest's summary.
#
# Knobs: TESTENV_DIR (state dir, default <repo>/.testenv), CAPSTAN_CACHE_DIR (default
# ~/.cache/capstan), KEEP_TESTENV=1 leaves the environment running afterwards,
# NEXTEST_ARGS (extra arguments for `cargo nextest run`, e.g. a filter).
#
# The tests read (exported here): CAPSTAN_WEB_DIST, the dashboard's build output that the
# API server serves (--static-assets); CAPSTAN_BROWSER_MODULES, the node_modules holding
# playwright-core for e2e/browser/*.mjs; CHROMIUM, the browser those scripts drive.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export TESTENV_DIR=${TESTENV_DIR:-$ROOT/.testenv}
CACHE=${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}
T0=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }

step "install dependencies"
bash e2e/scripts/install-deps.sh
export CAPSTAN_WEB_DIST=$ROOT/web/dist
export CAPSTAN_BROWSER_MODULES=$CACHE/browser/node_modules
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

step "build the web dashboard (web/dist)"
bash scripts/build-web.sh

if [ -d web/test ]; then
  step "web dashboard unit tests (npm test)"
  (cd web && npm test)
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build tests and binaries"
# The end-to-end tests run the binaries (the capstan CLI) as users do.
cargo build --workspace --bins --locked
cargo nextest run --workspace --locked --no-run

step "container images: lint (hadolint, shellcheck) and the Dockerfile's stages"
# No Docker engine here: the Dockerfile's stages run scripts (docker/stages/), and these run
# the same scripts on this machine and check the runtime image has what the binaries need.
bash docker/lint.sh
bash docker/check-stages.sh

step "start the test environment"
if [ "${KEEP_TESTENV:-0}" != 1 ]; then
  # stop what we started, whatever happens below
  trap 'bash e2e/testenv-down.sh >>"$ROOT/target/testenv-down.log" 2>&1 || true' EXIT
fi
bash e2e/testenv-up.sh >/dev/null
# shellcheck disable=SC1091
. "$TESTENV_DIR/env"

step "doc tests"
cargo test --workspace --locked --doc --quiet

step "cargo nextest run (unit, integration, end-to-end)"
# shellcheck disable=SC2086
cargo nextest run --workspace --locked --no-fail-fast ${NEXTEST_ARGS:-}
