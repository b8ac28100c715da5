#!/usr/bin/env bash
# docker/stages/build.sh — the commands of docker/Dockerfile's `build` stage. docker/check-stages.sh
# runs the same script without Docker.
#
#   build.sh release OUT      cargo build --release --locked of the five binaries (in the current
#                             directory, the workspace root) → OUT/bin, then `libs` on them.
#   build.sh libs OUT BIN...  checks that the runtime image can load BIN...: every shared library
#                             they need is either in the runtime base (gcr.io/distroless/cc-debian12:
#                             glibc, libgcc_s, libstdc++, libgomp, OpenSSL 3) or one this script
#                             copies into OUT/lib (zlib: libgit2 links it, distroless cc-debian12
#                             lacks it). Any other library fails the build, naming it.
#   build.sh bins             prints the binaries' names, one a line.
set -euo pipefail

BINS=(capstan-api-server capstan-repo-server capstan-application-controller capstan-auth-gateway capstan)
# Sonames of Debian 12's libc6, libgcc-s1, libstdc++6, libgomp1 and libssl3 (distroless cc-debian12).
BASE_LIBS=(ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0
  librt.so.1 libutil.so.1 libresolv.so.2 libanl.so.1 libmvec.so.1 libgcc_s.so.1 libstdc++.so.6
  libgomp.so.1 libssl.so.3 libcrypto.so.3)
# Libraries copied from the build image into the runtime image's /usr/lib (each needs glibc only).
COPY_LIBS=(libz.so.1)

libs() {
  local out=$1 bin so path
  shift
  mkdir -p "$out/lib"
  for bin in "$@"; do
    for so in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
      [[ " ${BASE_LIBS[*]} " == *" $so "* ]] && continue
      if [[ " ${COPY_LIBS[*]} " != *" $so "* ]]; then
        echo "build.sh: $bin needs $so, which the runtime image lacks: add it to COPY_LIBS" \
          "(a library depending on glibc only) or to the runtime image" >&2
        return 1
      fi
      [ -f "$out/lib/$so" ] && continue
      path=$(ldd "$bin" | awk -v so="$so" '$1 == so { print $3 }')
      [ -f "$path" ] || { echo "build.sh: ldd finds no $so for $bin" >&2; return 1; }
      cp -L "$path" "$out/lib/$so"
      echo "build.sh: $so (needed by $(basename "$bin")) copied from $path"
    done
  done
}

case ${1:-} in
  release)
    out=${2:?usage: build.sh release OUT}
    args=()
    for b in "${BINS[@]}"; do args+=(--bin "$b"); done
    cargo build --release --locked "${args[@]}"
    mkdir -p "$out/bin"
    for b in "${BINS[@]}"; do
      install -m 0755 "${CARGO_TARGET_DIR:-target}/release/$b" "$out/bin/$b"
    done
    libs "$out" "${BINS[@]/#/$out/bin/}"
    ;;
  bins)
    printf '%s\n' "${BINS[@]}"
    ;;
  libs)
    [ $# -ge 3 ] || { echo "usage: build.sh libs OUT BIN..." >&2; exit 2; }
    shift
    libs "$@"
    ;;
  *)
    echo "usage: build.sh release OUT | build.sh libs OUT BIN... | build.sh bins" >&2
    exit 2
    ;;
esac
