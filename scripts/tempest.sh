#!/bin/bash
# Neutron's own API suite (neutron-tempest-plugin's `api` tests) against an `alcor server`.
#
#   scripts/tempest.sh                       # the whole neutron_tempest_plugin.api suite
#   scripts/tempest.sh 'test_routers'        # a regex of tests instead (tempest run --regex)
#
# What runs, all on loopback, all under $ALCOR_TEMPEST_DIR (default /tmp/alcor-tempest):
#   * a real Keystone (PyPI keystone, SQLite, fernet, one gunicorn worker), bootstrapped with
#     admin/secret, so tempest makes its own projects and users (dynamic credentials) exactly
#     as against a Neutron;
#   * `alcor server` on the embedded defaults (SQLite + bundled nats-server), unmodified: its API
#     is Neutron's noauth mode;
#   * tests/tempest/auth_proxy.py: keystonemiddleware's auth_token (Neutron's own auth filter)
#     in front of the server, turning tokens into the X-Project-Id/X-Roles/X-User-Id headers;
#     Keystone's catalog points the network service at it.
# Tempest, neutron-tempest-plugin, keystone and gunicorn go into their own venv ($TEMPEST_VENV,
# default $ALCOR_TEMPEST_DIR/venv) pinned by scripts/tempest-constraints.txt; the project's
# .venv provides `alcor`. Results: the subunit stream and logs in $ALCOR_TEMPEST_DIR, the summary
# in benchmarks/results/tempest-summary.json ($TEMPEST_SUMMARY).
# Knobs: TEMPEST_CONCURRENCY (default 2 workers), ALCOR_TEMPEST_KEEP=1 leaves the services up.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${ALCOR_TEMPEST_DIR:-/tmp/alcor-tempest}"
VENV="${TEMPEST_VENV:-$ROOT/venv}"
REGEX="${1:-^neutron_tempest_plugin\.api\.}"
CONCURRENCY="${TEMPEST_CONCURRENCY:-2}"
SUMMARY="${TEMPEST_SUMMARY:-$REPO/benchmarks/results/tempest-summary.json}"
ALCOR_PY="${ALCOR_PYTHON:-$REPO/.venv/bin/python}"  # the project's venv (scripts/setup.sh)
export PYTHONWARNINGS=ignore

[ -x "$ALCOR_PY" ] || { echo "no $ALCOR_PY: run scripts/setup.sh first" >&2; exit 1; }
mkdir -p "$ROOT"
ROOT="$(cd "$ROOT" && pwd)"

# ------------------------------------------------------------------ the tempest venv
if ! "$VENV/bin/python" -c 'import tempest, neutron_tempest_plugin, keystone' 2>/dev/null; then
  echo "tempest venv: $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -c "$REPO/scripts/tempest-constraints.txt" \
    tempest neutron-tempest-plugin keystone gunicorn > "$ROOT/pip.log" 2>&1 \
    || { tail -20 "$ROOT/pip.log" >&2; exit 1; }
fi

# ------------------------------------------------------------------ fresh state, free ports
PIDS=()
cleanup() {
  if [ "${ALCOR_TEMPEST_KEEP:-0}" != 1 ]; then
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
  fi
}
trap cleanup EXIT
rm -rf "$ROOT/keystone" "$ROOT/alcor" "$ROOT/workspace" "$ROOT/logs"
mkdir -p "$ROOT"/{keystone/etc,alcor,logs}
read -r KS_PORT ALCOR_PORT NATS_PORT PROXY_PORT < <("$VENV/bin/python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
KEYSTONE_URL="http://127.0.0.1:$KS_PORT/v3"
ALCOR_URL="http://127.0.0.1:$ALCOR_PORT"
NETWORK_URL="http://127.0.0.1:$PROXY_PORT/"

wait_http() {  # URL what
  for _ in $(seq 600); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "$2 did not come up; logs in $ROOT/logs" >&2
  exit 1
}

# ------------------------------------------------------------------ Keystone
KS="$ROOT/keystone"
# keystone.conf (SQLite, fernet, bcrypt cost 4, the memory cache: never `enabled = false`)
# and the WSGI shim (keystone parses sys.argv, which under gunicorn is gunicorn's), as the
# API tests run Keystone: tests/support/keystone.py
(cd "$REPO" && PYTHONPATH="$REPO" "$ALCOR_PY" -m tests.support.keystone configure "$KS")
KM=("$VENV/bin/keystone-manage" --config-file "$KS/etc/keystone.conf")
"${KM[@]}" db_sync > "$ROOT/logs/keystone-manage.log" 2>&1
"${KM[@]}" fernet_setup --keystone-user root --keystone-group root >> "$ROOT/logs/keystone-manage.log" 2>&1
"${KM[@]}" credential_setup --keystone-user root --keystone-group root >> "$ROOT/logs/keystone-manage.log" 2>&1
"${KM[@]}" bootstrap --bootstrap-password secret --bootstrap-region-id RegionOne \
  --bootstrap-admin-url "$KEYSTONE_URL/" --bootstrap-public-url "$KEYSTONE_URL/" \
  --bootstrap-internal-url "$KEYSTONE_URL/" >> "$ROOT/logs/keystone-manage.log" 2>&1
(cd "$KS" && OS_KEYSTONE_CONFIG_DIR="$KS/etc" exec setsid "$VENV/bin/gunicorn" \
  --no-control-socket --workers 1 --threads 1 --bind "127.0.0.1:$KS_PORT" --timeout 120 \
  keystone_wsgi:application > "$ROOT/logs/keystone-gunicorn.log" 2>&1 < /dev/null) &
PIDS+=($!)

# ------------------------------------------------------------------ Alcor and its auth proxy
# Neutron's default quotas (10 routers, 50 floating IPs, 10 security groups per project) are
# too few for the suite: e.g. RoutersTest makes more than 10 routers in one project and frees
# them only when the class ends. Raise them as neutron-tempest-plugin's gate does.
(ALCOR_STATE_DIR="$ROOT/alcor" ALCOR_NATS_PORT="$NATS_PORT" ALCOR_CONFIG=/nonexistent \
  ALCOR_QUOTA_ROUTER=100 ALCOR_QUOTA_FLOATINGIP=500 ALCOR_QUOTA_SECURITY_GROUP=150 \
  ALCOR_QUOTA_SECURITY_GROUP_RULE=1000 \
  PYTHONPATH="$REPO" exec setsid "$ALCOR_PY" -m alcor server --bind "127.0.0.1:$ALCOR_PORT" \
  > "$ROOT/logs/alcor-server.log" 2>&1 < /dev/null) &
PIDS+=($!)
(cd "$REPO/tests/tempest" && KEYSTONE_URL="$KEYSTONE_URL" ALCOR_URL="$ALCOR_URL" \
  exec setsid "$VENV/bin/gunicorn" --no-control-socket --workers 1 --threads 8 \
  --bind "127.0.0.1:$PROXY_PORT" --timeout 300 auth_proxy:app \
  > "$ROOT/logs/auth-proxy.log" 2>&1 < /dev/null) &
PIDS+=($!)
wait_http "$KEYSTONE_URL" keystone
wait_http "$ALCOR_URL/" "alcor server"
wait_http "$NETWORK_URL" "auth proxy"

# ------------------------------------------------------------------ tempest
rm -f "$ROOT/workspace.yaml"  # tempest keeps a registry of workspaces: ours, not ~/.tempest
(cd "$ROOT" && "$VENV/bin/tempest" init --workspace-path "$ROOT/workspace.yaml" workspace \
  > "$ROOT/logs/tempest-init.log" 2>&1)
"$VENV/bin/python" "$REPO/tests/tempest/setup_cloud.py" "$KEYSTONE_URL" "$NETWORK_URL" \
  "$ROOT/workspace/etc/tempest.conf"
echo "tempest run --regex '$REGEX' --concurrency $CONCURRENCY (log: $ROOT/workspace/tempest.log)"
start=$(date +%s)
(cd "$ROOT/workspace" && "$VENV/bin/tempest" run --regex "$REGEX" --concurrency "$CONCURRENCY" \
  --subunit > "$ROOT/results.subunit" 2> "$ROOT/logs/tempest-run.stderr") || true
echo "tempest took $(($(date +%s) - start)) s"
"$VENV/bin/subunit2pyunit" < "$ROOT/results.subunit" > "$ROOT/results.txt" 2>&1 || true
mkdir -p "$(dirname "$SUMMARY")"
"$VENV/bin/python" "$REPO/tests/tempest/summarize.py" "$ROOT/results.subunit" "$SUMMARY" \
  "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || true)"
echo "summary: $SUMMARY; per-test results: $ROOT/results.txt"
