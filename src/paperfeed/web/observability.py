"""What the operator sees: a request id and a log line per request, Prometheus metrics,
and the health checks /healthz (the process answers) and /readyz (it can serve).

The middleware is pure ASGI and sits outside every other one, so cached pages are
counted and logged too. Metrics are labelled by route template (`/papers/{arxiv_id:path}`),
never by raw path, so a crawler cannot grow the label set. They live in this process:
with several worker processes each has its own numbers (Prometheus scrapes each worker,
or prometheus-client's multiprocess mode would have to be set up; it is not, yet).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed.config import IpNetwork
from paperfeed.logs import request_id
from paperfeed.services.health import ping, store_gauges
from paperfeed.services.search import SearchEngine
from paperfeed.store import Store
from paperfeed.web.edge import site_router
from paperfeed.web.security import request_header

log = logging.getLogger("paperfeed.web")
access_log = logging.getLogger("paperfeed.http")

REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is kept only if it is short and plain (it goes into every log line).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NO_STORE = {"Cache-Control": "no-store"}
MAX_LOGGED_PATH = 200
# Statuses the outbox uses (services/digest.py); each is exported even at zero.
DIGEST_STATUSES = ("pending", "sending", "sent", "failed", "unknown", "empty", "cancelled")


class _StoreCollector(Collector):
    """Gauges read from the store at each scrape; a store that does not answer gives
    `paperfeed_store_up 0` instead of a failed scrape."""

    def __init__(self, store: Store, search: SearchEngine | None) -> None:
        self.store = store
        self.search = search

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("paperfeed_store_up", "1 if the store answered this scrape.")
        try:
            model = self.search.embedder.model_id if self.search is not None else None
            gauges = store_gauges(self.store, model)
        except Exception as exc:
            log.warning("metrics: the store did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("paperfeed_papers", "Papers in the store.", value=gauges.papers)
        if gauges.embedding_backlog is not None:
            yield GaugeMetricFamily(
                "paperfeed_embedding_backlog",
                "Papers not yet embedded by the serving model.",
                value=gauges.embedding_backlog,
            )
        digests = GaugeMetricFamily(
            "paperfeed_digests", "Digest outbox rows by status.", labels=["status"]
        )
        for status in sorted(set(DIGEST_STATUSES) | set(gauges.digests)):
            digests.add_metric([status], gauges.digests.get(status, 0))
        yield digests
        updated = GaugeMetricFamily(
            "paperfeed_last_update_timestamp_seconds",
            "When the last successful `paperfeed update` of each source finished.",
            labels=["source"],
        )
        for source, moment in sorted(gauges.last_update.items()):
            updated.add_metric([source], moment)
        yield updated


class Metrics:
    """This process's registry: request counters and latencies, the store's gauges, and
    the process's own (CPU, memory, open files)."""

    def __init__(self, store: Store, search: SearchEngine | None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "paperfeed_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "paperfeed_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(store, search))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ObservabilityMiddleware:
    """Gives each request an id (a sane incoming `X-Request-ID`, or a new one), returns it
    in the `X-Request-ID` header, logs one line when the answer is done and counts it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _route(self, scope: Scope) -> str:
        """The matched route's template. A page the cache answered never reached the
        router: match it here."""
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] == Match.FULL), None)
        return getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = request_header(scope, REQUEST_ID_HEADER)
        rid = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500  # what the client gets if the app raises before answering
        started = False
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, rid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Logged here, with the request's id, which the 500 page also carries.
            log.exception("unhandled error")
            if started:
                raise
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send_with_id(
                {"type": "http.response.body", "body": f"Internal Server Error ({rid})".encode()}
            )
        finally:
            seconds = time.perf_counter() - start
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = self._route(scope)
            self.metrics.observe(method, route, status, seconds)
            path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            client = scope.get("client")
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "path": path[:MAX_LOGGED_PATH],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                    "client": client[0] if client else "-",
                },
            )
            request_id.reset(token)


class Readiness:
    """Whether this process can serve: the store answers a trivial query within
    `timeout_s`, and the search indexes are loaded. One check runs at a time: while the
    store hangs, probes wait on the same check instead of piling up threads."""

    def __init__(self, store: Store, search: SearchEngine | None, timeout_s: float = 2.0) -> None:
        self.store = store
        self.search = search
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperfeed-readyz")
        self._lock = threading.Lock()
        self._pending: Future[None] | None = None

    async def problem(self) -> str | None:
        """None when ready; otherwise why not, in a few words."""
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = self._pool.submit(ping, self.store)
            pending = self._pending
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(pending)), self.timeout_s)
        except TimeoutError:
            return f"the store did not answer within {self.timeout_s:g} s"
        except Exception as exc:
            log.warning("readyz: the store does not answer: %s", exc)
            return f"the store does not answer ({type(exc).__name__})"
        if self.search is not None and self.search.vectors is None:
            return "the search indexes are still loading"
        return None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _allowed(host: str | None, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def create_observability_router(
    metrics: Metrics, readiness: Readiness, metrics_allow: tuple[IpNetwork, ...]
) -> APIRouter:
    router = site_router()

    @router.get("/healthz")
    def healthz() -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    @router.get("/readyz", responses={503: {"description": "not ready; the reason in JSON"}})
    async def readyz() -> Response:
        problem = await readiness.problem()
        if problem is not None:
            return JSONResponse(
                {"status": "unavailable", "reason": problem}, status_code=503, headers=NO_STORE
            )
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    # Not in the OpenAPI description: it is the operator's, and not JSON.
    @router.get("/metrics", include_in_schema=False)
    def metrics_page(request: Request) -> Response:
        # Not found, rather than forbidden, for everyone the operator has not allowed.
        if not _allowed(request.client.host if request.client else None, metrics_allow):
            raise HTTPException(404, "Not Found")
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)

    return router
