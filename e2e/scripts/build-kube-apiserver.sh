#!/usr/bin/env bash
# build-kube-apiserver.sh
#
# Build kube-apiserver and kube-controller-manager v1.20.2 from Debian bookworm's
# `kubernetes` source package (1.20.5+really1.20.2-1.1+deb12u1), using only the
# Debian archive (no GitHub, no proxy.golang.org, no dl.k8s.io).
#
# Why this way:
#   * Debian bookworm ships only kubectl as a binary package (kubernetes-client);
#     the source package still contains the whole tree *with vendor/*, so
#     a GOPATH-mode build (GO111MODULE=off) needs no network at all.
#   * bookworm's Go is 1.19; k8s 1.20 builds with it in GOPATH mode.
#   * `make WHAT=cmd/kube-apiserver` would call hack/make-rules/build.sh to build the
#     code generators, so we build the generators ourselves with plain `go build`
#     first; `make generated_files` then sees them up to date and only runs them.
#
# Usage (as root, or with sudo for the apt-get install step):
#   ./build-kube-apiserver.sh          (normally run by e2e/scripts/install-deps.sh)
#   -> $WORK/bin/kube-apiserver, $WORK/bin/kube-controller-manager
#
# Environment knobs (all optional):
#   WORK     work dir (apt state, source tree, go build cache)  default: ${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}/kube-src
#   OUT      where binaries go                                   default: $WORK/bin
#   WHAT     commands to build (dirs under cmd/)                  default: "kube-apiserver kube-controller-manager"
#   MIRROR   Debian mirror                                        default: the one this machine's apt uses
#   SUITE    Debian suite to take the source from                 default: bookworm
#   GOCACHE  go build cache                                       default: $WORK/go-build
#
# Idempotent: every step is skipped when its result already exists.
set -euo pipefail

WORK=${WORK:-${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}/kube-src}
OUT=${OUT:-$WORK/bin}
WHAT=${WHAT:-"kube-apiserver kube-controller-manager"}
# The Debian mirror this machine's apt already uses (deb822 .sources or one-line .list format).
default_mirror() {
  { { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
    grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } |
    grep -v -- '-security' | head -n 1; } || true
}
MIRROR=${MIRROR:-$(default_mirror)}
[ -n "$MIRROR" ] || { echo 'no Debian mirror found in the apt configuration; set MIRROR' >&2; exit 1; }
SUITE=${SUITE:-bookworm}
export GOCACHE=${GOCACHE:-$WORK/go-build}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p "$WORK" "$OUT"
WORK=$(cd "$WORK" && pwd) OUT=$(cd "$OUT" && pwd)

# ---------------------------------------------------------------------------
# 1. Build dependencies from the normal (binary) apt sources of the system.
#    golang-go = Go 1.19 on bookworm; dpkg-dev provides dpkg-source so that
#    `apt-get source` unpacks *and applies the Debian patches*; rsync and make
#    are used by the kubernetes build scripts; etcd-server is for running it;
#    golang-github-modern-go-reflect2-dev (1.0.2) replaces the vendored reflect2 1.0.1 (step 2b).
# ---------------------------------------------------------------------------
PKGS="golang-go rsync etcd-server dpkg-dev make golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev"
MISSING=$(for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$MISSING" ]; then
  log "installing $MISSING"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends $MISSING || { apt-get update && apt-get install -y --no-install-recommends $MISSING; }
fi
go version >&2

# ---------------------------------------------------------------------------
# 2. Fetch the source package with a PRIVATE apt configuration, so the system's
#    sources.list and package lists are neither changed nor needed to have deb-src.
# ---------------------------------------------------------------------------
APTDIR=$WORK/apt
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$WORK/src"
echo "deb-src $MIRROR $SUITE main" > "$APTDIR/sources.list"
APTOPTS=(
  -o "Dir::Etc::SourceList=$APTDIR/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$APTDIR/lists"
  -o "Dir::Cache=$APTDIR/cache"
  -o "APT::Sandbox::User=root"      # private dirs may not be readable by _apt
)
SRC=$(ls -d "$WORK"/src/kubernetes-*/ 2>/dev/null | head -n1 || true)
if [ -z "$SRC" ] || [ ! -f "$SRC/cmd/kube-apiserver/apiserver.go" ]; then
  log "apt-get update (private deb-src list: $SUITE)"
  apt-get "${APTOPTS[@]}" update
  log "apt-get source kubernetes (downloads ~27 MB, unpacks ~330 MB with vendor/)"
  ( cd "$WORK/src" && apt-get "${APTOPTS[@]}" source kubernetes )
  SRC=$(ls -d "$WORK"/src/kubernetes-*/ | head -n1)
fi
SRC=${SRC%/}
DSC=$(ls "$WORK"/src/kubernetes_*.dsc | head -n1)
# Debian version 1.20.5+really1.20.2-1.1+deb12u1 -> upstream 1.20.2
DEBVER=$(sed -n 's/^Version: //p' "$DSC")
KVER=${KVER:-$(echo "$DEBVER" | sed -e 's/.*really//' -e 's/-[^-]*$//' -e 's/+.*//')}
KMAJOR=${KVER%%.*}; KMINOR=$(echo "$KVER" | cut -d. -f2)
log "source: $SRC (Debian $DEBVER -> v$KVER)"

# ---------------------------------------------------------------------------
# 2b. TRAP FIX: k8s 1.20 vendors github.com/modern-go/reflect2 v1.0.1, whose map iterator
#     links to reflect.mapiterinit with the pre-Go-1.18 signature. Built with Go 1.19 the binary
#     compiles fine but kube-apiserver dies with "fatal error: fault / SIGSEGV" in
#     json-iterator sortKeysMapEncoder as soon as it encodes a map that way (e.g. the first
#     custom resource written). reflect2 v1.0.2 fixed this (go_above_118.go); Debian ships it
#     as golang-github-modern-go-reflect2-dev, so swap it into vendor/.
# ---------------------------------------------------------------------------
R2=/usr/share/gocode/src/github.com/modern-go/reflect2
if [ ! -f "$SRC/vendor/github.com/modern-go/reflect2/go_above_118.go" ]; then
  log "replacing vendor/github.com/modern-go/reflect2 (1.0.1) with Debian's 1.0.2"
  rm -rf "$SRC/vendor/github.com/modern-go/reflect2"
  cp -r "$R2" "$SRC/vendor/github.com/modern-go/reflect2"
  sed -i 's|^\(# github.com/modern-go/reflect2 .*\)v1.0.1$|\1v1.0.2|' "$SRC/vendor/modules.txt"
fi

# ---------------------------------------------------------------------------
# 2c. json-iterator 1.1.12 is the release made for reflect2 1.0.2 (the vendored 1.1.10
#     predates it); Debian ships it as golang-github-json-iterator-go-dev, so swap it in too,
#     keeping the pair consistent.
# ---------------------------------------------------------------------------
JI=/usr/share/gocode/src/github.com/json-iterator/go
if [ ! -f "$SRC/vendor/github.com/json-iterator/go/.capstan-1.1.12" ]; then
  log "replacing vendor/github.com/json-iterator/go (1.1.10) with Debian's 1.1.12"
  rm -rf "$SRC/vendor/github.com/json-iterator/go"
  cp -r "$JI" "$SRC/vendor/github.com/json-iterator/go"
  rm -rf "$SRC/vendor/github.com/json-iterator/go/.git" "$SRC/vendor/github.com/json-iterator/go/"*_test.go
  sed -i 's|^\(# github.com/json-iterator/go .*\)v1.1.10$|\1v1.1.12|' "$SRC/vendor/modules.txt"
  touch "$SRC/vendor/github.com/json-iterator/go/.capstan-1.1.12"
fi

# ---------------------------------------------------------------------------
# 2d. TRAP FIX: the OpenAPI validators vendored in 1.20 (k8s.io/kube-openapi and
#     go-openapi/validate) test for "null" with
#       reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))
#     Built with Go >= 1.18 that is true for "" (both Values point at the runtime's shared zero
#     buffer), so every custom resource with an empty string is rejected with
#     `Invalid value: "null": ... must be of type string` — e.g. an AppProject's `group: ''`.
#     Only a real nil is null (kube-openapi later fixed it the same way).
# ---------------------------------------------------------------------------
for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go vendor/github.com/go-openapi/validate/type.go; do
  if grep -q 'data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))' "$SRC/$f"; then
    log "patching the empty-string-is-null check in $f"
    sed -i 's/data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))/data == nil/' "$SRC/$f"
  fi
done

# Binaries built before a fix above are stale: the stamp names the fixes they were built with.
FIXES="reflect2-1.0.2 json-iterator-1.1.12 openapi-null-check"

# ---------------------------------------------------------------------------
# 3. GOPATH layout: $SRC/.go/src/k8s.io/kubernetes -> $SRC (same as debian/rules).
#    Everything below runs from inside that symlinked path, in GOPATH mode.
# ---------------------------------------------------------------------------
mkdir -p "$SRC/.go/src/k8s.io"
[ -L "$SRC/.go/src/k8s.io/kubernetes" ] || ln -s ../../.. "$SRC/.go/src/k8s.io/kubernetes"
export GOPATH=$SRC/.go GO111MODULE=off GOFLAGS= GOPROXY=off CGO_ENABLED=0
export HOME=${HOME:-$WORK}
cd "$SRC/.go/src/k8s.io/kubernetes"   # `cd` keeps the logical path in $PWD; go uses it for the import path

# ---------------------------------------------------------------------------
# 4. Code generators, built by hand (make would otherwise build them through
#    hack/make-rules/build.sh). Built before `make` so they are newer than their deps.
# ---------------------------------------------------------------------------
declare -A GENS=(
  [prerelease-lifecycle-gen]=./vendor/k8s.io/code-generator/cmd/prerelease-lifecycle-gen
  [deepcopy-gen]=./vendor/k8s.io/code-generator/cmd/deepcopy-gen
  [defaulter-gen]=./vendor/k8s.io/code-generator/cmd/defaulter-gen
  [conversion-gen]=./vendor/k8s.io/code-generator/cmd/conversion-gen
  [openapi-gen]=./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  [go-bindata]=./vendor/github.com/go-bindata/go-bindata/go-bindata
)
mkdir -p _output/bin
for g in "${!GENS[@]}"; do
  if [ ! -x "_output/bin/$g" ]; then
    log "go build generator $g"
    go build -o "_output/bin/$g" "${GENS[$g]}"
  fi
done

# ---------------------------------------------------------------------------
# 5. Generated code (deepcopy, defaults, conversions, openapi, bindata).
# ---------------------------------------------------------------------------
if [ ! -f _output/.generated_files.done ]; then
  log "make generated_files"
  make generated_files
  touch _output/.generated_files.done
fi

# ---------------------------------------------------------------------------
# 6. The binaries, static (CGO_ENABLED=0), with version info injected the same
#    way hack/lib/version.sh does (both client-go and component-base copies).
#    gitCommit is already baked into the tarball's base.go by `git archive`.
# ---------------------------------------------------------------------------
BUILD_DATE=$(date ${SOURCE_DATE_EPOCH:+--date=@$SOURCE_DATE_EPOCH} -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS="-s -w"
for p in k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version k8s.io/kubernetes/vendor/k8s.io/component-base/version; do
  LDFLAGS+=" -X $p.gitVersion=v$KVER -X $p.gitMajor=$KMAJOR -X $p.gitMinor=$KMINOR"
  LDFLAGS+=" -X $p.gitTreeState=clean -X $p.buildDate=$BUILD_DATE"
done
for cmd in $WHAT; do
  if [ -x "$OUT/$cmd" ] && "$OUT/$cmd" --version 2>/dev/null | grep -q "v$KVER" \
     && [ "$(cat "$OUT/$cmd.fixes" 2>/dev/null)" = "$FIXES" ]; then
    log "$OUT/$cmd already built"; continue
  fi
  log "go build ./cmd/$cmd"
  go build -ldflags "$LDFLAGS" -o "$OUT/$cmd" "./cmd/$cmd"
  "$OUT/$cmd" --version >&2
  echo "$FIXES" > "$OUT/$cmd.fixes"
done
log "done: $(ls "$OUT" | tr '\n' ' ')"
