#!/usr/bin/env bash
# One command on a fresh Debian 12 (as root): install, then run the main job on the embedded
# defaults (SQLite + a bundled NATS): `alcor demo` starts the server, builds a 3-host OVS lab in
# network namespaces, creates a network and subnet, boots VMs on two hosts that get DHCP
# leases, pings across hosts, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-test-deps
exec .venv/bin/alcor demo "$@"
