#!/usr/bin/env bash
# testenv-up.sh — start Capstan's local test environment on 127.0.0.1 (no root needed).
#
#   e2e/scripts/install-deps.sh      # once per machine (root): Debian packages, kube-apiserver, kubectl, helm
#   e2e/testenv-up.sh                # start (idempotent: re-running reuses what runs)
#   . .testenv/env                   # optional: the variables for a shell; tests read the file themselves
#   cargo nextest run -p capstan-e2e
#   e2e/testenv-down.sh              # stop by PID and remove the state dir (KEEP=1 keeps it)
#
# What runs (state, logs and pid files in $TESTENV_DIR, default <repo>/.testenv):
#   etcd                      Debian etcd-server, data in $TESTENV_DIR/etcd-data
#   kube-apiserver v1.20.2    https, own CA + serving cert, RBAC, static tokens admin (system:masters)
#                             and viewer (no rights), ServiceAccount tokens
#   kube-controller-manager   real Deployment/ReplicaSet/Job/StatefulSet/namespace/GC/SA controllers
#   capstan-podsim            fake node "capstan-sim-node"; binds pods and reports them Running/Ready
#                             (see e2e/src/bin/capstan-podsim.rs for the sim.capstan.dev/* annotations)
#   redis-server              no persistence
#   git-http-server.py        smart HTTP with basic auth; bare repos in $TESTENV_DIR/git-repos/<name>.git
# Ports are free ports picked at the first start (outside the ephemeral range) and kept in
# $TESTENV_DIR/ports, so a re-run reuses them.
#
# External cluster: when KUBECONFIG is set (and is not this environment's own kubeconfig) and its
# cluster answers, it is used instead of etcd/kube-apiserver/controller-manager/podsim (redis and
# git still start here), and CAPSTAN_TESTENV_EXTERNAL=1. Tokens then belong to the ServiceAccounts
# capstan-testenv/admin (cluster-admin) and capstan-testenv/viewer (no rights).
#
# Output: $TESTENV_DIR/env with `export NAME='value'` lines: KUBECONFIG TESTENV_DIR APISERVER_URL
# ADMIN_TOKEN VIEWER_TOKEN REDIS_URL REDIS_PORT GIT_HTTP_URL GIT_HTTP_USER GIT_HTTP_PASSWORD
# GIT_REPOS_DIR KUBECTL HELM CAPSTAN_TESTENV_EXTERNAL; and $TESTENV_DIR/kubeconfig (contexts
# "testenv" = admin, current, and "testenv-viewer").
#
# Knobs (env): TESTENV_DIR, CAPSTAN_CACHE_DIR (default ~/.cache/capstan), KUBE_BIN_DIR,
#   CAPSTAN_PODSIM_BIN (default: built with cargo), READY_TIMEOUT (seconds per component, 60).
set -euo pipefail
# shellcheck source=e2e/scripts/testenv-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/scripts/testenv-common.sh"

T0=$(now_ms)
KUBE_BIN_DIR=${KUBE_BIN_DIR:-$CAPSTAN_CACHE_DIR/kube-src/bin}
TOOLS_BIN=$CAPSTAN_CACHE_DIR/tools/bin
KUBECTL_BIN=$TOOLS_BIN/kubectl
HELM_BIN=$TOOLS_BIN/helm
ETCD=$(command -v etcd || echo /usr/bin/etcd)
REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)
REDIS_CLI=$(command -v redis-cli || echo /usr/bin/redis-cli)
READY_TIMEOUT=${READY_TIMEOUT:-60}
SIM_NODE=capstan-sim-node

mkdir -p "$D"; D=$(cd "$D" && pwd)
# One `up` at a time per state dir: concurrent runs would each start a component and the second
# pid file would orphan the first process. The lock is released when this script exits.
exec 9>"$D/.lock"
flock 9
OWN_KUBECONFIG=$D/kubeconfig

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
fail() { log "FAILED: $*"; log "state and logs are in $D; e2e/testenv-down.sh cleans up"; exit 1; }
fail_with_log() {  # fail_with_log NAME WHY
  log "$1 $2; last lines of $D/$1.log:"
  tail -n 30 "$D/$1.log" 2>/dev/null | sed 's/^/    /' >&2 || true
  fail "$1 $2"
}
# start NAME CMD...: run CMD in its own session, logging to $D/NAME.log, and record its PID.
start() {
  local name=$1; shift
  setsid "$@" >"$D/$name.log" 2>&1 </dev/null 9>&- &
  record "$name" $!
  log "started $name (pid $!)"
}
# wait_ready NAME CHECK...: poll CHECK every 0.1 s until it succeeds; fail at once with the log
# tail of NAME if its process dies, or after READY_TIMEOUT seconds.
wait_ready() {
  local name=$1 t; t=$(now_ms); shift
  until "$@" >/dev/null 2>&1; do
    alive "$name" || fail_with_log "$name" "died"
    [ $(( $(now_ms) - t )) -lt $(( READY_TIMEOUT * 1000 )) ] || fail_with_log "$name" "not ready after ${READY_TIMEOUT} s"
    sleep 0.1
  done
}
need() { [ -x "$1" ] || fail "$1 is missing: run e2e/scripts/install-deps.sh"; }
api() { curl -fsk --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" "https://127.0.0.1:$APISERVER_PORT$1"; }
redis_ping() { [ "$("$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
git_answers() { [ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GIT_HTTP_PORT/")" = 401 ]; }
node_ready() { local n; n=$(api "/api/v1/nodes/$SIM_NODE" | tr -d ' \n') && [[ $n == *'"type":"Ready","status":"True"'* ]]; }

need "$KUBECTL_BIN"; need "$HELM_BIN"; need "$REDIS_SERVER"; need "$REDIS_CLI"
command -v git >/dev/null || fail "git is missing: run e2e/scripts/install-deps.sh"

# ---------------------------------------------------------------------------------------------
# mode: our own control plane, or an existing cluster named by KUBECONFIG
# ---------------------------------------------------------------------------------------------
EXTERNAL=0
if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$OWN_KUBECONFIG" ]; then
  if KUBECONFIG=$KUBECONFIG "$KUBECTL_BIN" --request-timeout=5s get --raw=/readyz >/dev/null 2>&1; then
    EXTERNAL=1
  else
    log "KUBECONFIG=$KUBECONFIG is set but names no reachable cluster: starting the local control plane"
  fi
fi
MODE=$([ "$EXTERNAL" = 1 ] && echo external || echo local)
if [ -f "$D/mode" ] && [ "$(cat "$D/mode")" != "$MODE" ]; then
  fail "$D holds a $(cat "$D/mode") environment but this run wants a $MODE one: run e2e/testenv-down.sh first"
fi
echo "$MODE" > "$D/mode"

# ---------------------------------------------------------------------------------------------
# ports (kept across re-runs) and secrets
# ---------------------------------------------------------------------------------------------
if [ ! -f "$D/ports" ]; then
  # Free ports below the ephemeral range, so no outgoing connection can take them meanwhile.
  python3 - > "$D/ports.tmp" <<'EOF'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
names = ["ETCD_PORT", "ETCD_PEER_PORT", "APISERVER_PORT", "REDIS_PORT", "GIT_HTTP_PORT"]
held, ports = [], []
for port in random.sample(range(20000, min(lo, 32768)), 200):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s); ports.append(port)
    if len(ports) == len(names):
        break
for n, p in zip(names, ports):
    print(f"{n}={p}")
EOF
  mv "$D/ports.tmp" "$D/ports"
fi
# shellcheck disable=SC1091
. "$D/ports"
umask 077
[ -f "$D/admin.token" ] || openssl rand -hex 16 > "$D/admin.token"
[ -f "$D/viewer.token" ] || openssl rand -hex 16 > "$D/viewer.token"
[ -f "$D/git.password" ] || openssl rand -hex 16 > "$D/git.password"
umask 022
ADMIN_TOKEN=$(cat "$D/admin.token")
VIEWER_TOKEN=$(cat "$D/viewer.token")
GIT_HTTP_USER=capstan
GIT_HTTP_PASSWORD=$(cat "$D/git.password")
GIT_REPOS_DIR=$D/git-repos
mkdir -p "$GIT_REPOS_DIR" "$D/redis"

# ---------------------------------------------------------------------------------------------
# redis and git first: they need nothing else and are ready while the apiserver starts
# ---------------------------------------------------------------------------------------------
alive redis || start redis "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
  --appendonly no --dir "$D/redis" --protected-mode yes
alive git-http || start git-http python3 -u "$REPO_ROOT/e2e/scripts/git-http-server.py" \
  --root "$GIT_REPOS_DIR" --port "$GIT_HTTP_PORT" --user "$GIT_HTTP_USER" --password "$GIT_HTTP_PASSWORD"

if [ "$EXTERNAL" = 0 ]; then
  need "$KUBE_BIN_DIR/kube-apiserver"; need "$KUBE_BIN_DIR/kube-controller-manager"; need "$ETCD"
  # ---- the pod simulator binary (built now, before anything waits on readiness) ----
  if ! alive capstan-podsim; then
    if [ -n "${CAPSTAN_PODSIM_BIN:-}" ]; then
      PODSIM=$CAPSTAN_PODSIM_BIN
    else
      T=$(now_ms)
      log "cargo build -p capstan-e2e --bin capstan-podsim"
      PODSIM=$(cd "$REPO_ROOT" && cargo build -q -p capstan-e2e --bin capstan-podsim --message-format=json-render-diagnostics \
        | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "capstan-podsim":
        print(m["executable"])') || fail "building capstan-podsim"
      log "capstan-podsim built ($(since "$T"))"
    fi
    [ -x "$PODSIM" ] || fail "no capstan-podsim binary (${PODSIM:-none})"
  fi

  # ---- certificates (kept across restarts of the same dir) ----
  if [ ! -f "$D/serving.crt" ]; then
    T=$(now_ms)
    # A throwaway CA and a serving certificate signed by it: rustls (kube-rs) rejects a
    # self-signed certificate used as both CA and server certificate ("CaUsedAsEndEntity").
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=capstan-testenv-ca \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$D/ca.key" -out "$D/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=capstan-testenv-apiserver \
      -keyout "$D/serving.key" -out "$D/serving.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc" > "$D/serving.ext"
    openssl x509 -req -in "$D/serving.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -days 3650 \
      -extfile "$D/serving.ext" -out "$D/serving.crt" 2>/dev/null
    openssl genrsa -out "$D/sa.key" 2048 2>/dev/null                # service-account token signing key
    openssl rsa -in "$D/sa.key" -pubout -out "$D/sa.pub" 2>/dev/null
    log "certificates and keys made ($(since "$T"))"
  fi
  # token,user,uid,"groups"
  printf '%s\n' "$ADMIN_TOKEN,admin,admin-uid,\"system:masters\"" \
    "$VIEWER_TOKEN,viewer,viewer-uid,\"testenv:viewers\"" > "$D/tokens.csv"
  chmod 600 "$D/tokens.csv"

  # ---- etcd ----
  T=$(now_ms)
  alive etcd || start etcd "$ETCD" --name testenv --data-dir "$D/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "testenv=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes=$((2*1024*1024*1024)) --log-level=warn
  wait_ready etcd curl -fs --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
  log "etcd healthy on 127.0.0.1:$ETCD_PORT ($(since "$T"))"

  # ---- kube-apiserver ----
  T=$(now_ms)
  alive kube-apiserver || start kube-apiserver "$KUBE_BIN_DIR/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --cert-dir="$D/certs" --tls-cert-file="$D/serving.crt" --tls-private-key-file="$D/serving.key" \
    --token-auth-file="$D/tokens.csv" --authorization-mode=RBAC --anonymous-auth=false \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$D/sa.pub" --service-account-signing-key-file="$D/sa.key" \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true --profiling=false
  CA=$(base64 -w0 < "$D/ca.crt")
  cat > "$OWN_KUBECONFIG.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority-data: "$CA"}
users:
- name: admin
  user: {token: "$ADMIN_TOKEN"}
- name: viewer
  user: {token: "$VIEWER_TOKEN"}
contexts:
- name: testenv
  context: {cluster: testenv, user: admin, namespace: default}
- name: testenv-viewer
  context: {cluster: testenv, user: viewer, namespace: default}
current-context: testenv
EOF
  chmod 600 "$OWN_KUBECONFIG.tmp"; mv "$OWN_KUBECONFIG.tmp" "$OWN_KUBECONFIG"
  wait_ready kube-apiserver api /readyz
  log "kube-apiserver ready on https://127.0.0.1:$APISERVER_PORT ($(since "$T"))"

  # ---- kube-controller-manager and capstan-podsim ----
  T=$(now_ms)
  alive kube-controller-manager || start kube-controller-manager "$KUBE_BIN_DIR/kube-controller-manager" \
    --kubeconfig="$OWN_KUBECONFIG" --authentication-kubeconfig="$OWN_KUBECONFIG" \
    --authorization-kubeconfig="$OWN_KUBECONFIG" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --port=0 \
    --service-account-private-key-file="$D/sa.key" --root-ca-file="$D/ca.crt" \
    --use-service-account-credentials=false \
    --controllers='*,-nodeipam,-nodelifecycle,-ttl,-bootstrapsigner,-tokencleaner' \
    --cluster-signing-cert-file="$D/ca.crt" --cluster-signing-key-file="$D/ca.key"
  alive capstan-podsim || CAPSTAN_PODSIM_KUBECONFIG=$OWN_KUBECONFIG CAPSTAN_PODSIM_NODE_NAME=$SIM_NODE \
    start capstan-podsim "$PODSIM"
  # KCM works once the namespace's default ServiceAccount exists (pods need it);
  # podsim works once its node is Ready.
  wait_ready kube-controller-manager api /api/v1/namespaces/default/serviceaccounts/default
  log "kube-controller-manager ready ($(since "$T"))"
  wait_ready capstan-podsim node_ready
  log "capstan-podsim ready, node $SIM_NODE Ready ($(since "$T"))"
  ENV_KUBECONFIG=$OWN_KUBECONFIG
  APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
else
  # ---- external cluster ----
  T=$(now_ms)
  ENV_KUBECONFIG=$KUBECONFIG
  export KUBECONFIG
  APISERVER_URL=$("$KUBECTL_BIN" config view --minify -o 'jsonpath={.clusters[0].cluster.server}')
  log "using the existing cluster at $APISERVER_URL (KUBECONFIG=$KUBECONFIG)"
  ADMIN_TOKEN='' VIEWER_TOKEN=''
  if "$KUBECTL_BIN" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: capstan-testenv}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: admin, namespace: capstan-testenv}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: viewer, namespace: capstan-testenv}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: capstan-testenv-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: admin, namespace: capstan-testenv}]
EOF
  then
    ADMIN_TOKEN=$("$KUBECTL_BIN" create token -n capstan-testenv admin --duration=24h 2>/dev/null) || ADMIN_TOKEN=
    VIEWER_TOKEN=$("$KUBECTL_BIN" create token -n capstan-testenv viewer --duration=24h 2>/dev/null) || VIEWER_TOKEN=
  fi
  if [ -z "$ADMIN_TOKEN" ] || [ -z "$VIEWER_TOKEN" ]; then
    log "warning: could not make ServiceAccount tokens in the external cluster; ADMIN_TOKEN/VIEWER_TOKEN are empty"
  fi
  log "external cluster prepared ($(since "$T"))"
fi

# ---- redis and git readiness ----
wait_ready redis redis_ping
wait_ready git-http git_answers
log "redis ready on 127.0.0.1:$REDIS_PORT, git smart-HTTP ready on 127.0.0.1:$GIT_HTTP_PORT"

# ---------------------------------------------------------------------------------------------
# the env file for tests and shells
# ---------------------------------------------------------------------------------------------
{
  echo "# written by e2e/testenv-up.sh; source it, or let capstan_e2e::TestEnv read it"
  for kv in "KUBECONFIG=$ENV_KUBECONFIG" "TESTENV_DIR=$D" "APISERVER_URL=$APISERVER_URL" \
    "ADMIN_TOKEN=$ADMIN_TOKEN" "VIEWER_TOKEN=$VIEWER_TOKEN" \
    "REDIS_URL=redis://127.0.0.1:$REDIS_PORT" "REDIS_PORT=$REDIS_PORT" \
    "GIT_HTTP_URL=http://127.0.0.1:$GIT_HTTP_PORT" "GIT_HTTP_USER=$GIT_HTTP_USER" \
    "GIT_HTTP_PASSWORD=$GIT_HTTP_PASSWORD" "GIT_REPOS_DIR=$GIT_REPOS_DIR" \
    "KUBECTL=$KUBECTL_BIN" "HELM=$HELM_BIN" "CAPSTAN_TESTENV_EXTERNAL=$EXTERNAL"; do
    printf "export %s='%s'\n" "${kv%%=*}" "${kv#*=}"
  done
} > "$D/env.tmp"
chmod 600 "$D/env.tmp"; mv "$D/env.tmp" "$D/env"
cat "$D/env"
log "test environment ready in $D ($(since "$T0"))"
