#!/usr/bin/env bash
# Install everything Alcor needs on a fresh Debian 12 (run as root), idempotently:
#   - apt: Python 3.11 + venv, Open vSwitch (userspace datapath for the lab), iproute2,
#     nftables, ethtool, DHCP clients for lab VMs, PostgreSQL binaries, chromium and haproxy
#     for the test harness;
#   - a virtualenv in .venv with the pinned Python dependencies and `alcor` itself;
#   - with test deps, a second one in .venv-keystone with a real Keystone (pinned by
#     scripts/tempest-constraints.txt) that the API tests start (tests/support/keystone.py).
# Usage: scripts/setup.sh [--no-test-deps]
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=1
[ "${1:-}" = "--no-test-deps" ] && want_test=0

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/setup.sh: run as root (it installs apt packages and creates network namespaces)" >&2
  exit 1
fi

apt_pkgs=(python3 python3-venv python3-dev gcc openvswitch-switch openvswitch-common
          iproute2 iputils-ping nftables ethtool busybox isc-dhcp-client procps kmod)
# chromium: the web view's browser test drives it headless (Playwright's own download is
# not used); haproxy: the load balancer in front of the replicas in the cluster tests
[ "$want_test" = 1 ] && apt_pkgs+=(postgresql chromium haproxy)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py=python3.11
command -v "$py" >/dev/null || py=python3
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
extra=""
[ "$want_test" = 1 ] && extra="[test]"
.venv/bin/python -m pip install -q -c constraints.txt -e ".${extra}"
if [ "$want_test" = 1 ] && ! .venv-keystone/bin/python -c 'import keystone' 2>/dev/null; then
  echo "setup: installing Keystone into .venv-keystone"
  "$py" -m venv .venv-keystone
  .venv-keystone/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv-keystone/bin/python -m pip install -q -c scripts/tempest-constraints.txt keystone gunicorn
fi
echo "setup: done ($(.venv/bin/python --version), $(ovs-vswitchd --version | head -1))"
