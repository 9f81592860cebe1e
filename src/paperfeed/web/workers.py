"""`paperfeed serve`: one server process, or `--workers N` of them on one listening socket.

Workers share state only through the database and, on one machine, the keyword index
folder under the data dir. Worker 0 is the writer: it runs the background indexer that
syncs the keyword index and embeds new papers, and the periodic jobs (`--update-every`,
`--send-digests`). The others follow: every PAPERFEED_INDEX_EVERY they open the index's
latest commit and load the new vectors (a tantivy index takes one writer; two workers
embedding the same papers would only waste a core). Each worker keeps its own page cache
and, with in-memory vectors, its own copy of them (docs/scaling.md says how much).

The supervisor binds the socket, starts the workers as fresh processes (spawn: nothing of
the parent's threads or connections is inherited), starts a worker again when one dies,
and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

import uvicorn

from paperfeed.config import Settings
from paperfeed.logs import configure_logging
from paperfeed.services.digest_schedule import DigestScheduler
from paperfeed.services.indexer import BackgroundIndexer
from paperfeed.services.jobs import PeriodicJob
from paperfeed.services.recommend import Recommender, digest_section
from paperfeed.services.search import SearchEngine, engine_from_settings
from paperfeed.services.update import periodic_update
from paperfeed.store import Store
from paperfeed.web.app import create_app, server_config

log = logging.getLogger("paperfeed.workers")
# A worker that dies is started again after this pause (a crash loop costs little).
RESTART_PAUSE_S = 1.0
# How long the supervisor waits for its workers to finish their requests on shutdown.
STOP_WAIT_S = 20.0


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    send_digests: bool = False


def run_worker(
    settings: Settings,
    options: ServeOptions,
    writer: bool = True,
    sockets: list[socket.socket] | None = None,
    threads: int | None = None,
) -> None:
    """One server process, until it is told to stop. `writer`: this one writes the
    keyword index and runs the periodic jobs (see the module's doc). `threads`: how many
    the query embeddings use (None: one per core)."""
    store = Store(settings.database_url, settings.replica_urls)
    engine = engine_from_settings(store, settings, threads=threads)
    jobs: list[PeriodicJob] = [
        BackgroundIndexer(engine, settings.index_every_s, settings.today, writes=writer)
    ]
    scheduler = None
    if writer:
        if settings.update_every_s is not None:
            jobs.append(periodic_update(store, settings, engine, settings.update_every_s))
        if options.send_digests:
            scheduler = DigestScheduler(
                store, settings, for_you=digest_section(Recommender(store, engine)), search=engine
            )
            scheduler.start()
    app = create_app(store, search=engine, jobs=jobs, settings=settings)
    config = server_config(app, options.host, options.port, settings.trusted_proxies)
    try:
        uvicorn.Server(config).run(sockets=sockets)
    finally:
        if scheduler is not None:
            scheduler.stop()
        store.close()


def _worker_main(
    settings: Settings, options: ServeOptions, number: int, sock: socket.socket, threads: int
) -> None:
    configure_logging(settings.log_format)
    run_worker(settings, options, writer=number == 0, sockets=[sock], threads=threads)


def serve_workers(settings: Settings, options: ServeOptions, workers: int) -> None:
    """Run `workers` server processes on options.host:options.port until SIGINT/SIGTERM."""
    # Open the store and the keyword index once here, so that migrations and the index's
    # first files are made before any worker (and the followers find an index to open).
    with Store(settings.database_url) as store:
        SearchEngine(store, settings.resolved_data_dir).keyword.reload()  # no model loaded
    sock = socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host, options.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    # Each worker's numeric libraries get its share of the cores: OpenBLAS (the vector
    # scan) and onnxruntime (query embeddings) start a thread per core in every process,
    # and N workers' threads then wait on one another. Read by OpenBLAS as it loads in
    # the new process; an operator's own OPENBLAS_NUM_THREADS is kept.
    threads = max(1, (os.cpu_count() or 1) // workers)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}

    def start(number: int) -> BaseProcess:
        process = spawn.Process(
            target=_worker_main,
            args=(settings, options, number, sock, threads),
            name=f"paperfeed-worker-{number}",
        )
        process.start()
        return process

    running = [start(n) for n in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for number, process in enumerate(running):
                if not process.is_alive() and not stopping:
                    log.warning(
                        "worker %d (pid %s) exited with %s; starting it again",
                        number,
                        process.pid,
                        process.exitcode,
                    )
                    time.sleep(RESTART_PAUSE_S)
                    running[number] = start(number)
    finally:
        for process in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests under way
        deadline = time.monotonic() + STOP_WAIT_S
        for process in running:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
