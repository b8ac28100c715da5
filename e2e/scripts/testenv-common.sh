# shellcheck shell=bash
# testenv-common.sh — shared by e2e/testenv-up.sh and e2e/testenv-down.sh (sourced, not run).
#
# Every process of the environment has a pid file "$D/<name>.pid" holding "<pid> <start time>"
# (the start time is field 22 of /proc/<pid>/stat), so a recycled PID is never mistaken for
# ours and never signalled. Liveness is read from /proc/<pid>/stat, not `kill -0`: orphaned
# processes stay zombies until PID 1 reaps them (slowly in some containers) and `kill -0`
# succeeds on zombies.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
D=${TESTENV_DIR:-$REPO_ROOT/.testenv}
CAPSTAN_CACHE_DIR=${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%03d s' $((ms / 1000)) $((ms % 1000)); }
log() { printf '[testenv %s] %s\n' "$(date +%H:%M:%S.%N | cut -c1-12)" "$*" >&2; }

# proc_field PID N: field N of /proc/PID/stat, counted after the "(comm)" part (1 = state).
proc_field() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }

# record NAME PID: write the pid file of NAME.
record() { echo "$2 $(proc_field "$2" 20)" > "$D/$1.pid"; }

# pid_of NAME: the PID of NAME if it is running, is not a zombie and is the process we started.
pid_of() {
  local pid start st
  [ -f "$D/$1.pid" ] && read -r pid start < "$D/$1.pid" || return 1
  [ -n "$pid" ] && [ -n "$start" ] || return 1
  st=$(proc_field "$pid" 1); [ -n "$st" ] && [ "$st" != Z ] || return 1
  [ "$(proc_field "$pid" 20)" = "$start" ] || return 1
  echo "$pid"
}
alive() { pid_of "$1" >/dev/null; }
