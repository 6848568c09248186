"""The host's conntrack, through `ovs-appctl dpctl/*` on this host's ovs-vswitchd.

Why the agent touches conntrack at all: a security-group change must cut the established
connections it no longer allows (Neutron's OVS firewall does), and established traffic never
reaches the rule flows again (`security` passes +est early). So after a round that changed
security-group flows, the agent dumps the entries, asks `security.stale_connections` which
ones its ports' current rules no longer admit, and flushes exactly those.
"""

from __future__ import annotations

import asyncio
import logging
import os

from alcor.agent import security

log = logging.getLogger(__name__)


class Conntrack:
    """`ovs-appctl` bound to the ovs-vswitchd of one OVS run directory."""

    def __init__(self, rundir: str, timeout: float = 30.0) -> None:
        self.env = {**os.environ, "OVS_RUNDIR": rundir}
        # A vswitchd started with --unixctl=<rundir>/ovs-vswitchd.ctl (the lab's) is found
        # there; a packaged one by its pidfile in OVS_RUNDIR.
        fixed = os.path.join(rundir, "ovs-vswitchd.ctl")
        self.target = fixed if os.path.exists(fixed) else "ovs-vswitchd"
        self.timeout = timeout
        self._version: str | None = None

    async def _run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            *args,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])}: {err.decode().strip()[:500]}")
        return out.decode()

    async def version(self) -> str:
        if self._version is None:
            self._version = (await self._run("ovs-vswitchd", "--version")).splitlines()[0]
        return self._version

    async def cut_stale(
        self, ports: list[security.SgPort], address_sets: list[security.AddressSet]
    ) -> int:
        """Flush the entries of these ports' zones that their rules no longer admit; returns
        how many were flushed. Failures are logged: stale entries then age out."""
        if not ports:
            return 0
        try:
            entries = security.parse_conntrack(
                await self._run("ovs-appctl", "-t", self.target, "dpctl/dump-conntrack", "-m")
            )
            version = await self.version()
            flushed = 0
            for entry in security.stale_of_ports(entries, ports, address_sets):
                args = security.flush_args(entry, version)
                if args is not None:
                    await self._run("ovs-appctl", "-t", self.target, "dpctl/flush-conntrack", *args)
                    flushed += 1
            return flushed
        except (RuntimeError, TimeoutError, OSError):
            log.exception("cutting stale connections failed; they age out instead")
            return 0
