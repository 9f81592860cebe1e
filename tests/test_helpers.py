"""The test suite's own machinery: servers that fail fail at once, held ports refuse, the
PostgreSQL template gives fresh databases at the current schema, the run's embeddings are
the model's."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from paperfeed.index.embedder import Embedder
from paperfeed.store import Store
from paperfeed.store.db import _sqlalchemy_url
from paperfeed.store.migrations import LATEST_VERSION, current_version
from paperfeed.store.schema import papers
from tests.helpers import SERVER_START_TIMEOUT_S, refused_port, serve_app
from tests.run_embeddings import RunEmbedder


def test_a_site_that_cannot_start_fails_the_test_at_once_with_its_log():
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no database today")
        yield

    app = FastAPI(lifespan=lifespan)
    started = time.monotonic()
    with pytest.raises(AssertionError, match="did not start") as failed, serve_app(app):
        pass
    assert time.monotonic() - started < SERVER_START_TIMEOUT_S / 2
    assert "no database today" in str(failed.value)


def test_a_held_port_refuses_connections():
    with refused_port() as port, pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_fresh_databases_are_at_the_current_schema_and_empty(db_url):
    with Store(db_url) as store, store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION
        assert conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() == 0


def test_empty_databases_have_no_schema(empty_db_url):
    engine = sa.create_engine(_sqlalchemy_url(empty_db_url))
    try:
        with engine.connect() as conn:
            assert current_version(conn) == 0
    finally:
        engine.dispose()


def test_the_runs_embeddings_are_the_models_and_each_is_computed_once(tmp_path, monkeypatch):
    texts = ["tactile grasping", "sparse attention", "tactile grasping", "speech in Wolof"]
    plain = Embedder(max_tokens=64).embed(texts)
    asked: list[list[str]] = []
    model = Embedder.embed

    def spy(self, batch, *args, **kwargs):
        asked.append(list(batch))
        return model(self, batch, *args, **kwargs)

    monkeypatch.setattr(Embedder, "embed", spy)
    worker = RunEmbedder(tmp_path / "embeddings.db", max_tokens=64)
    assert np.allclose(worker.embed(texts[:2]), plain[:2], atol=1e-5)
    # Another worker: what the first computed comes from the file, the rest from the model.
    other = RunEmbedder(tmp_path / "embeddings.db", max_tokens=64)
    done: list[int] = []
    assert np.allclose(other.embed(texts, on_batch=done.append), plain, atol=1e-5)
    assert asked == [texts[:2], ["speech in Wolof"]]
    assert sum(done) == len(texts)
    other.embed(["sparse attention"], max_tokens=2)  # cut shorter: another vector
    assert asked[-1] == ["sparse attention"]
