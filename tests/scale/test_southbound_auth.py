"""Southbound access control on a real embedded nats-server (secure, as `alcor server` runs it).

A host's credentials work for its own flow and for nothing else: every forbidden publish or
subscribe is refused by nats-server (nats-py reports it through `error_cb`) and changes nothing
the servers hold; what NATS permits but the message contradicts (another host's id under its
own subject) the servers drop.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alcor.config import ServerSettings
from alcor.lab.server_process import AlcorServer
from alcor.southbound.nats_server import add_users, free_port
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.southbound.protocol.auth import NatsAuth
from alcor.southbound.service import Southbound
from alcor.southbound.sim import Fleet
from alcor.store.db import Database
from alcor.store.schema import hosts
from tests.scale import southbound_rows as rows
from tests.scale.conftest import start_southbound, wait_for

A, B = "auth-00000", "victim-00000"  # Fleet names its one host <prefix>-00000


def host_row(db: Database, host_id: str) -> dict[str, Any] | None:
    stmt = sa.select(hosts).where(hosts.c.host_id == host_id)
    row = db.read_sync(lambda conn: conn.execute(stmt).mappings().first())
    return dict(row) if row is not None else None


async def started(db: Database, tmp_path: Path, **tls: str) -> Southbound:
    conf = ServerSettings(
        nats_url="", nats_port=free_port(), state_dir=str(tmp_path), agent_down_time=30, **tls
    )
    return await start_southbound(db, conf)


def test_unauthenticated_clients_are_refused(sb_db: Database, tmp_path: Path) -> None:
    async def main() -> None:
        service = await started(sb_db, tmp_path)
        try:
            with pytest.raises(nats.errors.Error):
                await nats.connect(service.nats_url, allow_reconnect=False, connect_timeout=2)
        finally:
            await service.stop()

    asyncio.run(main())


def test_a_host_can_do_its_own_work_and_nothing_else(sb_db: Database, tmp_path: Path) -> None:
    async def main() -> None:
        service = await started(sb_db, tmp_path)
        server = service.nats_server
        assert server is not None
        creds_a, creds_b = add_users(server.work_dir, "hosts", [A, B], tmp_path / "creds")
        auth_a = NatsAuth(str(creds_a), inbox=subjects.inbox(A))
        nid, sid = sb_db.write_sync(rows.new_network, 500)
        theirs = sb_db.write_sync(rows.new_port, nid, sid, 2, B)  # B has no agent: DOWN
        # B registers, so that there is a tunnel address to hijack.
        b_nc = await nats.connect(
            service.nats_url, **NatsAuth(str(creds_b), inbox=subjects.inbox(B)).options()
        )
        info = pb.AgentInfo(host_id=B, tunnel_ip="192.0.2.2")
        reply = await b_nc.request(
            subjects.of_host(subjects.RPC_REGISTER, B), info.SerializeToString(), 10
        )
        assert pb.RegisterReply.FromString(reply.data).ok
        await b_nc.close()
        b_before = host_row(sb_db, B)

        fleet = Fleet(service.nats_url, 1, "auth", auth=auth_a)
        await fleet.start()
        errors: list[Exception] = []

        async def on_error(exc: Exception) -> None:
            errors.append(exc)

        nc = await nats.connect(service.nats_url, error_cb=on_error, **auth_a.options())
        try:
            # Its own flow: registered, heartbeating, programmed and reporting.
            ours = sb_db.write_sync(rows.new_port, nid, sid, 1, A)
            await wait_for(
                lambda: rows.port_row(sb_db, ours)["status"] == "ACTIVE", what="A's port ACTIVE"
            )
            assert host_row(sb_db, A) is not None

            # What B is told, seen with the servers' credentials.
            spy = await nats.connect(service.nats_url, **NatsAuth(server.credentials).options())
            told_b: list[bytes] = []

            async def on_b(msg: Any) -> None:
                told_b.append(msg.data)

            await spy.subscribe(subjects.host(B), cb=on_b)
            await spy.flush()

            # Forbidden by nats-server: speaking for B, publishing goal states, reading B.
            forged = pb.StatusReport(
                host_id=B,
                statuses=[pb.ResourceStatus(id=theirs, revision=9, state=pb.SUCCESS)],
                sent_at=time.time(),
            ).SerializeToString()
            evil = pb.AgentInfo(host_id=B, tunnel_ip="203.0.113.66").SerializeToString()
            beat = pb.Heartbeat(host_id=B, sent_at=time.time()).SerializeToString()
            publishes = {
                subjects.of_host(subjects.STATUS, B): forged,
                subjects.of_host(subjects.HEARTBEAT, B): beat,
                subjects.of_host(subjects.RPC_REGISTER, B): evil,
                subjects.of_host(subjects.RPC_HOST_STATE, B): b"",
                subjects.host(B): pb.HostDelta(seq=99).SerializeToString(),
                subjects.host(A): pb.HostDelta(seq=99).SerializeToString(),
                subjects.network(nid): pb.NeighborDelta(seq=99).SerializeToString(),
                f"{subjects.inbox(B)}.x.y": b"a forged reply",
            }
            for subject, data in publishes.items():
                await nc.publish(subject, data)
            for subject in (subjects.host(B), f"{subjects.inbox(B)}.>", "_INBOX.>", ">"):
                await nc.subscribe(subject)
            await nc.flush()
            want = {f'publish to "{s}"' for s in publishes}
            want |= {f'subscription to "{s}"' for s in (subjects.host(B), "_INBOX.>", ">")}
            want.add(f'subscription to "{subjects.inbox(B)}.>"')
            want = {w.lower() for w in want}  # nats-py lower-cases the server's -ERR text
            await wait_for(
                lambda: want <= {str(e).partition("permissions violation for ")[2] for e in errors},
                what=f"permission violations for {want}",
            )
            assert all("permissions violation" in str(e) for e in errors)

            # Permitted by nats-server (its own subjects) but naming B: dropped by the servers.
            await nc.publish(subjects.of_host(subjects.STATUS, A), forged)
            await nc.publish(subjects.of_host(subjects.HEARTBEAT, A), beat)
            reply = await nc.request(subjects.of_host(subjects.RPC_REGISTER, A), evil, 10)
            assert not pb.RegisterReply.FromString(reply.data).ok
            asking_b = pb.HostStateRequest(host_id=B).SerializeToString()
            with pytest.raises(nats.errors.TimeoutError):
                await nc.request(subjects.of_host(subjects.RPC_HOST_STATE, A), asking_b, 1)
            # A reply subject that is not an inbox gets no reply (it would reach B as a delta).
            own = pb.HostStateRequest(host_id=A).SerializeToString()
            await nc.publish(
                subjects.of_host(subjects.RPC_HOST_STATE, A), own, reply=subjects.host(B)
            )
            await asyncio.sleep(1.5)  # > the batchers' and heartbeat flush's delays

            assert told_b == []
            await spy.close()
            assert rows.port_row(sb_db, theirs)["status"] == "DOWN"
            after = host_row(sb_db, B)
            assert after is not None and b_before is not None
            assert after["tunnel_ip"] == "192.0.2.2"
            assert after["heartbeat_at"] == b_before["heartbeat_at"]
            assert rows.port_row(sb_db, ours)["status"] == "ACTIVE"
            assert fleet.all_synced()
        finally:
            await nc.close()
            await fleet.stop()
            await service.stop()

    asyncio.run(main())


def throwaway_ca(tmp: Path) -> dict[str, str]:
    """A CA and a certificate for 127.0.0.1 signed by it, as PEM files in `tmp`."""
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    files = {
        "nats_tls_ca": cert("test ca", ca_key, "test ca", ca_key, True),
        "nats_tls_cert": cert("nats", key, "test ca", ca_key, False),
    }
    paths = {}
    for name, c in files.items():
        paths[name] = str(tmp / f"{name}.pem")
        Path(paths[name]).write_bytes(c.public_bytes(serialization.Encoding.PEM))
    paths["nats_tls_key"] = str(tmp / "key.pem")
    Path(paths["nats_tls_key"]).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_tls(sb_db: Database, tmp_path: Path) -> None:
    async def main() -> None:
        tls = throwaway_ca(tmp_path)
        service = await started(sb_db, tmp_path, **tls)
        assert service.nats_server is not None
        (creds,) = add_users(service.nats_server.work_dir, "fleets", ["tls"], tmp_path / "creds")
        try:
            with pytest.raises((nats.errors.Error, OSError)):  # no CA: the server is unknown
                await nats.connect(
                    service.nats_url,
                    allow_reconnect=False,
                    connect_timeout=2,
                    **NatsAuth(str(creds)).options(),
                )
            fleet = Fleet(service.nats_url, 1, "tls", auth=NatsAuth(str(creds), tls["nats_tls_ca"]))
            await fleet.start()
            try:
                nid, sid = sb_db.write_sync(rows.new_network, 600)
                pid = sb_db.write_sync(rows.new_port, nid, sid, 1, "tls-00000")
                await wait_for(
                    lambda: rows.port_row(sb_db, pid)["status"] == "ACTIVE", what="ACTIVE over TLS"
                )
            finally:
                await fleet.stop()
        finally:
            await service.stop()

    asyncio.run(main())


def test_hosts_import_issues_credentials_a_running_server_admits(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.csv"
    inventory.write_text("host,tunnel_ip\nimp-1,192.0.2.11\nimp-2,192.0.2.12\n")
    creds = tmp_path / "creds"
    with AlcorServer() as server:
        cmd = [sys.executable, "-m", "alcor", "hosts", "import", str(inventory)]
        cmd += ["--url", server.url, "--credentials-dir", str(creds)]
        done = subprocess.run(cmd, env=server.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        for host in ("imp-1", "imp-2"):
            seed_file = creds / f"{host}.nk"
            assert stat.S_IMODE(seed_file.stat().st_mode) == 0o600
            assert seed_file.read_text().strip() not in done.stdout + done.stderr

        async def register() -> bool:
            auth = NatsAuth(str(creds / "imp-1.nk"), inbox=subjects.inbox("imp-1"))
            nc = await nats.connect(server.nats_url, **auth.options())
            info = pb.AgentInfo(host_id="imp-1", tunnel_ip="192.0.2.11").SerializeToString()
            msg = await nc.request(subjects.of_host(subjects.RPC_REGISTER, "imp-1"), info, 10)
            await nc.close()
            return pb.RegisterReply.FromString(msg.data).ok

        assert asyncio.run(register())
