"""Thin helpers over iproute2 and process handling for the lab (root only).

Everything the lab makes is named with its prefix, so these helpers can find and remove
exactly the lab's own namespaces and processes after a crash, never anyone else's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence


class LabError(RuntimeError):
    """A lab command failed (message carries the command and its stderr)."""


def run(
    args: Sequence[str],
    ns: str | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float = 60.0,
) -> str:
    """Run a command (inside netns `ns` when given) and return its stdout."""
    cmd = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def sh(script: str, ns: str | None = None, check: bool = True, timeout: float = 60.0) -> str:
    return run(["sh", "-c", script], ns=ns, check=check, timeout=timeout)


def add(ns: str) -> None:
    """Create a namespace with loopback up and IPv6 off (no RS/MLD noise reaching OVS)."""
    run(["ip", "netns", "add", ns])
    sh(
        "ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
        "net.ipv6.conf.default.disable_ipv6=1",
        ns=ns,
    )


def names(prefix: str) -> list[str]:
    """Namespaces named `<prefix>-...`."""
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line and line.startswith(f"{prefix}-")]


def pids_in(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def pids_in_any(namespaces: Iterable[str]) -> list[int]:
    """Processes in any of `namespaces`, found in one pass over /proc: `ip netns pids` scans
    /proc once per namespace, which is minutes for a lab of 2,400 VMs."""
    inodes = set()
    for ns in namespaces:
        with contextlib.suppress(OSError):
            inodes.add(os.stat(f"/run/netns/{ns}").st_ino)
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry.name}/ns/net").st_ino in inodes:
                    pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill(pids: Iterable[int], timeout: float = 5.0) -> None:
    """SIGTERM, wait, then SIGKILL what is left."""
    pending = {p for p in pids if p > 1}
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if alive(p) and not _zombie(p)}
        time.sleep(0.05)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def read_pid(path: str) -> int | None:
    try:
        with open(path) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def delete(ns: str) -> None:
    run(["ip", "netns", "del", ns], check=False)


def delete_all(namespaces: Iterable[str]) -> None:
    """Delete namespaces with one `ip -batch` (not a process each); missing ones are skipped."""
    script = "".join(f"netns del {ns}\n" for ns in namespaces)
    if script:
        run(["ip", "-force", "-batch", "-"], input=script, check=False, timeout=600)
