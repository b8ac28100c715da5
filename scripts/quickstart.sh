#!/usr/bin/env bash
# scripts/quickstart.sh — Capstan's main job, locally: a local control plane, Redis, a Git
# server serving the example repository (examples/k8s-manifests, laid out like the seed guide's
# k8s-manifests), Capstan's CRDs and settings, the repository Secret, the AppProject and the
# App of Apps; an OpenID Connect provider standing in for Azure AD (the test IdP: users alice,
# devops, and bob, developer, picked on its login form).
#
# Then it starts capstan-repo-server, capstan-application-controller, capstan-api-server (with
# the web dashboard) and capstan-auth-gateway (the front door, SSO through the IdP), logs the
# `capstan` CLI in through the gateway as admin with the generated initial password
# (argocd-initial-admin-secret, as the seed guide reads it), applies the root Application and
# prints every app's sync and health as they converge, then the dashboard's URL and the
# password. It stays in the foreground: Ctrl-C stops everything it started.
#
# Usage: scripts/quickstart.sh            bring it up; Ctrl-C stops it all
#        scripts/quickstart.sh --detach   bring it up and leave it running
#        scripts/quickstart.sh down       stop what a detached run left running
# Knobs: TESTENV_DIR (default <repo>/.testenv), QUICKSTART_TIMEOUT (convergence, default 300 s).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export TESTENV_DIR=${TESTENV_DIR:-$ROOT/.testenv}
T0=$(date +%s)
step() { printf '==> [%3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }

stop_components() {
  for pidfile in "$TESTENV_DIR"/capstan-*.pid "$TESTENV_DIR"/oidc-idp.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}
if [ "${1:-}" = down ]; then stop_components; exec bash e2e/testenv-down.sh; fi
DETACH=0
[ "${1:-}" = --detach ] && DETACH=1

step "installing dependencies (first run: builds kube-apiserver, ~6-10 min)"
bash e2e/scripts/install-deps.sh
step "starting the local control plane, Redis and the Git server"
bash e2e/testenv-up.sh >/dev/null
# shellcheck disable=SC1091
. "$TESTENV_DIR/env"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

step "installing Capstan's CRDs"
k apply --server-side --field-manager=capstan-quickstart -f charts/capstan/crds/ >/dev/null
k wait --for condition=established --timeout=60s -f charts/capstan/crds/ >/dev/null

step "publishing examples/k8s-manifests as $GIT_HTTP_URL/k8s-manifests.git"
REPO_URL=$GIT_HTTP_URL/k8s-manifests.git
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
cp -r examples/k8s-manifests/. "$WORK/"
grep -rl 'http://git.capstan.local/k8s-manifests.git' "$WORK" | xargs sed -i "s|http://git.capstan.local/k8s-manifests.git|$REPO_URL|g"
BARE=$GIT_REPOS_DIR/k8s-manifests.git
[ -d "$BARE" ] || git init -q --bare -b main "$BARE"
(
  cd "$WORK"
  git init -q -b main
  git -c user.name=capstan -c user.email=capstan@example.com add -A
  git -c user.name=capstan -c user.email=capstan@example.com commit -q -m "example configuration repository"
  git push -q -f "$BARE" main
)

step "configuring the argocd namespace: argocd-cm, argocd-rbac-cm, repository Secret, AppProject"
k create namespace argocd --dry-run=client -o yaml | k apply -f - >/dev/null
# Applications left by an earlier run would show their old status until reconciled and fool the
# convergence check below: start from none (their resources stay and are adopted again).
for app in $(k -n argocd get applications.argoproj.io -o name 2>/dev/null); do
  k -n argocd patch "$app" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null
done
k -n argocd delete applications.argoproj.io --all --wait=true >/dev/null 2>&1 || true
k -n argocd apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  users.anonymous.enabled: "false"
  timeout.reconciliation: "180s"
  timeout.hard.reconciliation: "0"
  application.resourceTrackingMethod: "annotation"
  # This local cluster also hosts the test suite's controllers: an installation id keeps each
  # installation's objects its own (as with several Argo CD instances on one cluster).
  installationID: "capstan-quickstart"
---
# The seed guide's RBAC policy: developers view and sync, devops do everything.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-rbac-cm
  namespace: argocd
data:
  policy.default: role:readonly
  policy.csv: |
    p, role:developer, applications, get, */*, allow
    p, role:developer, applications, sync, */*, allow
    p, role:developer, logs, get, */*, allow
    p, role:developer, exec, create, */*, deny
    p, role:devops, applications, *, */*, allow
    p, role:devops, clusters, *, *, allow
    p, role:devops, repositories, *, *, allow
    p, role:devops, projects, *, *, allow
    g, devops-team@example.com, role:devops
    g, developers@example.com, role:developer
    # the test IdP's groups (Azure AD sends group object IDs): alice is devops, bob a developer
    g, a1a1a1a1-0000-4000-8000-000000000001, role:devops
    g, b2b2b2b2-0000-4000-8000-000000000002, role:developer
---
apiVersion: v1
kind: Secret
metadata:
  name: k8s-manifests-repo
  namespace: argocd
  labels:
    argocd.argoproj.io/secret-type: repository
stringData:
  type: git
  url: $REPO_URL
  username: $GIT_HTTP_USER
  password: $GIT_HTTP_PASSWORD
YAML
k apply -f "$WORK/argocd/projects/microservices.yaml" >/dev/null

step "building the web dashboard (web/dist)"
bash scripts/build-web.sh

step "building and starting capstan-repo-server, capstan-application-controller, capstan-api-server and capstan-auth-gateway"
cargo build --quiet -p capstan-repo-server -p capstan-application-controller -p capstan-api-server \
  -p capstan-auth-gateway -p capstan-cli
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
stop_components
REPO_GRPC=127.0.0.1:$(free_port); REPO_ADMIN=127.0.0.1:$(free_port)
KUBECONFIG=$KUBECONFIG \
CAPSTAN_REPO_SERVER_LISTEN_ADDR=$REPO_GRPC CAPSTAN_REPO_SERVER_METRICS_ADDR=$REPO_ADMIN \
CAPSTAN_REPO_SERVER_REDIS_URL=$REDIS_URL CAPSTAN_REPO_SERVER_NAMESPACE=argocd \
CAPSTAN_REPO_SERVER_DATA_DIR=$TESTENV_DIR/repo-server CAPSTAN_REPO_SERVER_CACHE_KEY_FILE=$TESTENV_DIR/cache.key \
CAPSTAN_REPO_SERVER_KUBECTL_PATH=$KUBECTL CAPSTAN_REPO_SERVER_HELM_PATH=$HELM \
  setsid target/debug/capstan-repo-server >"$TESTENV_DIR/capstan-repo-server.log" 2>&1 </dev/null &
echo $! > "$TESTENV_DIR/capstan-repo-server.pid"
for _ in $(seq 1 100); do curl -fs "http://$REPO_ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$REPO_ADMIN/readyz" >/dev/null || { tail -20 "$TESTENV_DIR/capstan-repo-server.log" >&2; exit 1; }
CONTROLLER_ADMIN=127.0.0.1:$(free_port)
KUBECONFIG=$KUBECONFIG CAPSTAN_CONTROLLER_NAMESPACE=argocd CAPSTAN_CONTROLLER_REPO_SERVER=http://$REPO_GRPC \
CAPSTAN_CONTROLLER_METRICS_ADDR=$CONTROLLER_ADMIN CAPSTAN_CONTROLLER_REDIS_URL=$REDIS_URL \
CAPSTAN_CONTROLLER_CACHE_KEY_FILE=$TESTENV_DIR/cache.key \
  setsid target/debug/capstan-application-controller >"$TESTENV_DIR/capstan-application-controller.log" 2>&1 </dev/null &
echo $! > "$TESTENV_DIR/capstan-application-controller.pid"
for _ in $(seq 1 100); do curl -fs "http://$CONTROLLER_ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$CONTROLLER_ADMIN/readyz" >/dev/null || { tail -20 "$TESTENV_DIR/capstan-application-controller.log" >&2; exit 1; }
API=127.0.0.1:$(free_port); API_ADMIN=127.0.0.1:$(free_port)
GW=127.0.0.1:$(free_port); GW_GRPC=127.0.0.1:$(free_port); GW_ADMIN=127.0.0.1:$(free_port)

# The identity provider standing in for Azure AD (e2e/oidc/oidc-idp.js, npm oidc-provider from
# the cache install-deps filled): a login form for alice or bob, redirecting to the gateway.
IDP_PORT=$(free_port)
IDP_TENANT=72f988bf-0000-4000-8000-000000000001
( cd "${CAPSTAN_CACHE_DIR:-$HOME/.cache/capstan}/oidc-provider" &&
  OIDC_PORT=$IDP_PORT OIDC_TENANT=$IDP_TENANT OIDC_AUTO_LOGIN=0 \
  OIDC_REDIRECT_URIS="http://$GW/auth/callback" \
    setsid node "$ROOT/e2e/oidc/oidc-idp.js" >"$TESTENV_DIR/oidc-idp.log" 2>&1 </dev/null &
  echo $! > "$TESTENV_DIR/oidc-idp.pid" )
ISSUER=http://127.0.0.1:$IDP_PORT/$IDP_TENANT/v2.0
for _ in $(seq 1 150); do curl -fs "$ISSUER/.well-known/openid-configuration" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$ISSUER/.well-known/openid-configuration" >/dev/null || { tail -20 "$TESTENV_DIR/oidc-idp.log" >&2; exit 1; }
# shellcheck disable=SC2016  # `$oidc.azure.clientSecret` is argocd-cm's reference into argocd-secret, not a shell variable
k -n argocd patch configmap argocd-cm --type merge -p "$(python3 -c 'import json,sys; print(json.dumps({"data": {"url": "http://" + sys.argv[1], "oidc.config": "name: Azure AD\nissuer: " + sys.argv[2] + "\nclientID: capstan\nclientSecret: $oidc.azure.clientSecret\ncliClientID: capstan-cli\nrequestedScopes: [openid, profile, email]\n"}}))' "$GW" "$ISSUER")" >/dev/null
if k -n argocd get secret argocd-secret >/dev/null 2>&1; then
  k -n argocd patch secret argocd-secret --type merge -p '{"stringData":{"oidc.azure.clientSecret":"capstan-secret"}}' >/dev/null
else
  k -n argocd create secret generic argocd-secret --from-literal=oidc.azure.clientSecret=capstan-secret >/dev/null
fi
KUBECONFIG=$KUBECONFIG CAPSTAN_API_SERVER_NAMESPACE=argocd CAPSTAN_API_SERVER_REPO_SERVER=http://$REPO_GRPC \
CAPSTAN_API_SERVER_AUTH_GATEWAY=http://$GW_GRPC CAPSTAN_API_SERVER_STATIC_ASSETS=$ROOT/web/dist \
CAPSTAN_API_SERVER_LISTEN_ADDR=$API CAPSTAN_API_SERVER_METRICS_ADDR=$API_ADMIN \
CAPSTAN_API_SERVER_REDIS_URL=$REDIS_URL CAPSTAN_API_SERVER_CACHE_KEY_FILE=$TESTENV_DIR/cache.key \
  setsid target/debug/capstan-api-server >"$TESTENV_DIR/capstan-api-server.log" 2>&1 </dev/null &
echo $! > "$TESTENV_DIR/capstan-api-server.pid"
for _ in $(seq 1 150); do curl -fs "http://$API_ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$API_ADMIN/readyz" >/dev/null || { tail -20 "$TESTENV_DIR/capstan-api-server.log" >&2; exit 1; }
KUBECONFIG=$KUBECONFIG CAPSTAN_AUTH_GATEWAY_NAMESPACE=argocd CAPSTAN_AUTH_GATEWAY_API_SERVER=http://$API \
CAPSTAN_AUTH_GATEWAY_LISTEN_ADDR=$GW CAPSTAN_AUTH_GATEWAY_GRPC_ADDR=$GW_GRPC \
CAPSTAN_AUTH_GATEWAY_METRICS_ADDR=$GW_ADMIN CAPSTAN_AUTH_GATEWAY_REDIS_URL=$REDIS_URL \
CAPSTAN_AUTH_GATEWAY_CACHE_KEY_FILE=$TESTENV_DIR/cache.key \
  setsid target/debug/capstan-auth-gateway >"$TESTENV_DIR/capstan-auth-gateway.log" 2>&1 </dev/null &
echo $! > "$TESTENV_DIR/capstan-auth-gateway.pid"
for _ in $(seq 1 150); do curl -fs "http://$GW_ADMIN/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$GW_ADMIN/readyz" >/dev/null || { tail -20 "$TESTENV_DIR/capstan-auth-gateway.log" >&2; exit 1; }
# The seed guide's way in: the generated initial admin password, through the front door.
export CAPSTAN_CONFIG=$TESTENV_DIR/capstan-config
ADMIN_PASSWORD=$(k -n argocd get secret argocd-initial-admin-secret -o jsonpath="{.data.password}" | base64 -d)
target/debug/capstan login "$GW" --username admin --password "$ADMIN_PASSWORD" --name quickstart >/dev/null

step "applying the App of Apps (argocd/root-app.yaml); watching the apps converge"
k apply -f "$WORK/argocd/root-app.yaml" >/dev/null
# Print every app's sync, health and last operation as they change, until the root app and every
# automated child app are synced (prod is synced by hand, as the guide's strategy table says).
converged() {
  k -n argocd get applications.argoproj.io -o json | python3 -c '
import json, sys
apps = json.load(sys.stdin)["items"]
def state(a):
    s = a.get("status", {})
    return (s.get("sync", {}).get("status", ""), s.get("health", {}).get("status", ""),
            (s.get("operationState") or {}).get("phase", ""))
names = {a["metadata"]["name"] for a in apps}
ok = "root-app" in names and len(apps) > 1
for a in apps:
    sync, health, op = state(a)
    automated = bool((a["spec"].get("syncPolicy") or {}).get("automated"))
    # Synced, by an automated sync or (objects left by an earlier run) already.
    if automated and (sync != "Synced" or op not in ("Succeeded", "")):
        ok = False
    if not automated and not sync:
        ok = False
sys.exit(0 if ok else 1)'
}
table() { target/debug/capstan app list 2>/dev/null; }
LAST=""
DEADLINE=$(( $(date +%s) + ${QUICKSTART_TIMEOUT:-300} ))
while :; do
  NOW_TABLE=$(table)
  if [ "$NOW_TABLE" != "$LAST" ]; then
    printf '\n--- %ss ---\n%s\n' "$(( $(date +%s) - T0 ))" "$NOW_TABLE"
    LAST=$NOW_TABLE
  fi
  converged && break
  if [ "$(date +%s)" -gt "$DEADLINE" ]; then
    echo "quickstart: the apps did not converge in ${QUICKSTART_TIMEOUT:-300}s; see $TESTENV_DIR/*.log" >&2
    exit 1
  fi
  sleep 1
done
step "converged"
table

cat <<MSG

Converged: the App of Apps created the AppProject and the child Applications; dev and staging
were synced automatically (auto-sync, prune, self-heal), prod waits for a manual sync.
Running: control plane, Redis, $REPO_URL, capstan-repo-server (gRPC $REPO_GRPC),
capstan-application-controller (metrics http://$CONTROLLER_ADMIN/metrics) and
capstan-api-server (gRPC and REST on http://$API, metrics http://$API_ADMIN/metrics) behind
capstan-auth-gateway (the front door: http://$GW, metrics http://$GW_ADMIN/metrics);
state and logs in $TESTENV_DIR.

The dashboard: http://$GW  (user admin, password $ADMIN_PASSWORD;
  or "Log in via Azure AD": the test IdP at $ISSUER, user alice (devops) or bob (developer))

The capstan CLI is logged in as admin (password: $ADMIN_PASSWORD):
  export CAPSTAN_CONFIG=$CAPSTAN_CONFIG KUBECONFIG=$KUBECONFIG PATH=$ROOT/target/debug:\$PATH
  capstan app list                                        # sync and health
  capstan app sync users-api-prod                         # the manual sync of prod
  capstan app diff users-api-staging
  TOKEN=\$(curl -s http://$GW/api/v1/session -d '{"username":"admin","password":"$ADMIN_PASSWORD"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -H "Authorization: Bearer \$TOKEN" http://$GW/api/v1/applications
MSG
step "up in $(( $(date +%s) - T0 ))s"
if [ "$DETACH" = 1 ]; then
  echo "Stop everything with: scripts/quickstart.sh down"
  exit 0
fi
echo "Press Ctrl-C to stop everything."
shutdown() {
  trap - INT TERM
  echo; step "stopping the components, the IdP and the local control plane"
  stop_components
  bash e2e/testenv-down.sh >/dev/null 2>&1 || true
  step "stopped"
  exit 0
}
trap shutdown INT TERM
while :; do sleep 1; done
