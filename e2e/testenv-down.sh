#!/usr/bin/env bash
# testenv-down.sh — stop what e2e/testenv-up.sh started in $TESTENV_DIR (default <repo>/.testenv),
# by PID only, then remove the directory (KEEP=1 keeps it, e.g. to read the logs).
# Safe to run twice. Sends SIGTERM to everything at once, SIGKILL after GRACE seconds (default 2;
# the data is throwaway); FAST=1 sends SIGKILL at once. An external cluster (KUBECONFIG mode) is
# left alone.
set -uo pipefail
# shellcheck source=e2e/scripts/testenv-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/scripts/testenv-common.sh"

T0=$(now_ms)
GRACE=${GRACE:-2}
[ -d "$D" ] || { log "nothing to stop: no $D"; exit 0; }

# Clients first, then the servers they talk to; all are signalled at once, but this order
# makes the logs quieter.
NAMES="capstan-podsim kube-controller-manager git-http redis kube-apiserver etcd"
declare -A PIDS=()
for name in $NAMES; do
  if pid=$(pid_of "$name"); then
    PIDS[$name]=$pid
    if [ "${FAST:-0}" = 1 ]; then kill -KILL "$pid" 2>/dev/null; else kill -TERM "$pid" 2>/dev/null; fi
  fi
done
deadline=$(( $(now_ms) + GRACE * 1000 ))
for name in $NAMES; do
  pid=${PIDS[$name]:-}; [ -n "$pid" ] || continue
  while alive "$name" && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.05; done
  if alive "$name"; then
    kill -KILL "$pid" 2>/dev/null
    while alive "$name"; do sleep 0.05; done
    log "killed $name (pid $pid)"
  else
    log "stopped $name (pid $pid)"
  fi
done
for name in $NAMES; do rm -f "$D/$name.pid"; done

if [ "${KEEP:-0}" = 1 ]; then
  rm -f "$D/env"   # the services are gone: tests must not find a stale env file
  log "kept $D"
else
  rm -rf "$D"
fi
log "test environment stopped ($(since "$T0"))"
