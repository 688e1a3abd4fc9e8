"""A throwaway PostgreSQL server for the PostgreSQL tier (``tests/postgres/``).

Debian's own binaries (``make test`` installs the ``postgresql`` package; its system
service stays off) run a fresh cluster in a temporary folder, on a free loopback port and
a socket in that folder, with trust authentication for the one local user ``opsdash``.
Durability is switched off: the cluster lives for one test session. As root the server
runs as Debian's ``postgres`` user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.stack_process import free_loopback_port

__all__ = ["PostgresServer", "postgres_bin", "start_postgres"]

USER = "opsdash"


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``, if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster: ``url(name)`` is SQLAlchemy's URL of database ``name`` on it."""

    port: int
    folder: Path
    bin: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        _run(self.bin / "pg_ctl", ["-D", str(self.folder / "data"), "-m", "immediate", "-w",
                                   "stop"], check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _owner_prefix() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(program: Path, args: Sequence[str], *, check: bool = True) -> None:
    # From "/": the postgres user may not be allowed into the current folder.
    done = subprocess.run([*_owner_prefix(), str(program), *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd="/")
    if check and done.returncode != 0:
        raise RuntimeError(f"{program.name} failed: {done.stderr.strip() or done.stdout}")


def start_postgres(bin_dir: Path) -> PostgresServer:
    """Initialise and start a cluster; raises ``RuntimeError`` with PostgreSQL's reason."""
    folder = Path(tempfile.mkdtemp(prefix="opsdash-postgres-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    port = free_loopback_port()
    try:
        _run(bin_dir / "initdb", ["-D", str(data), "-U", USER, "--auth=trust",
                                  "--encoding=UTF8", "--no-locale"])
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        _run(bin_dir / "pg_ctl", ["-D", str(data), "-o", options, "-l",
                                  str(folder / "server.log"), "-w", "-t", "60", "start"])
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return PostgresServer(port=port, folder=folder, bin=bin_dir)
