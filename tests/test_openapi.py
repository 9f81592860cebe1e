"""The OpenAPI description tells the truth: schemathesis generates requests from
/openapi.json for every operation, valid ones and invalid ones, sends them over real HTTP
(signed out and signed in, with the CSRF header a script sends) and checks each answer:
no server error, a documented status, the declared content type and schema, invalid
input refused. A fixed seed and a bounded number of examples keep the run repeatable;
the examples are drawn once and sent for each session and engine."""

from __future__ import annotations

import contextlib
import json
import secrets

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from paperfeed.services.search import MODES
from paperfeed.store.secrets import get_or_create_secret
from paperfeed.web.security import csrf_token_for
from tests.sites import Site

# One worker draws the examples once and sends them for all four runs.
pytestmark = pytest.mark.xdist_group("openapi")

SEED = 20261201
EXAMPLES = 12  # per operation and generation mode


@pytest.fixture
def site(hostile_web_site: Site) -> Site:
    return hostile_web_site


def signed_out_session(site: Site) -> tuple[requests.Session, str]:
    nonce = secrets.token_urlsafe(24)
    session = requests.Session()
    session.cookies.set("pf_csrf", nonce)
    return session, csrf_token_for(get_or_create_secret(site.store.engine, "site"), nonce, "")


def signed_in_session(site: Site) -> tuple[requests.Session, str]:
    session = requests.Session()
    for name in ("pf_session", "pf_csrf"):
        session.cookies.set(name, site.reader.cookies[name])
    return session, site.csrf


def known_requests(site: Site) -> list[tuple[str, dict, dict]]:
    """Requests that find something (generated ids rarely do): (path, path, query)."""
    paper = {"arxiv_id": "2611.00001"}
    collection = {"collection_id": site.collection_id}
    return [
        ("/papers/{arxiv_id}.json", paper, {}),
        ("/papers/{arxiv_id}.bib", paper, {}),
        ("/api/papers/{arxiv_id}", {"arxiv_id": "2611.00002"}, {}),
        ("/collections/{collection_id}.json", collection, {}),
        ("/collections/{collection_id}.bib", collection, {}),
        ("/feeds/collections/{collection_id}.atom", collection, {}),
        ("/feeds/category/{category}.atom", {"category": "cs.CL"}, {}),
        ("/users/{name}.json", {"name": "reader"}, {}),
        ("/papers/date/{day}.json", {"day": "2026-11-03"}, {}),
        ("/papers/date/{day}.json", {"day": "2026-11-04"}, {}),
        ("/index.json", {}, {"week": "2026-W45"}),
        ("/api/daily_papers", {}, {"month": "2026-11", "sort": "trending"}),
        *[("/search.json", {}, {"q": "attention", "mode": mode}) for mode in MODES],
        ("/api/papers/search", {}, {"q": "tactile grasping"}),
        ("/feeds/search.atom", {}, {"q": "reward"}),
    ]


Examples = list[tuple[str, GenerationMode, list[schemathesis.Case]]]
_drawn: dict[str, Examples] = {}


def draw(operation: APIOperation, mode: GenerationMode) -> list[schemathesis.Case]:
    cases: list[schemathesis.Case] = []

    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def keep(case: schemathesis.Case) -> None:
        cases.append(case)

    with contextlib.suppress(Unsatisfiable):  # no parameter to make invalid: none negative
        keep()
    return cases


def examples(spec: str) -> Examples:
    """Every operation's positive and negative examples, drawn once per description: the
    seed is fixed, so each session and engine would draw the same ones, and drawing costs
    more than sending."""
    if spec not in _drawn:
        schema = schemathesis.openapi.from_dict(json.loads(spec))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 25
        _drawn[spec] = [
            (operation.label, mode, draw(operation, mode))
            for operation in operations
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
    return _drawn[spec]


def fuzz(site: Site, session: requests.Session, csrf: str) -> list[str]:
    """Known requests, then every operation with positive and negative examples; the
    failures found (the first of each operation and mode)."""
    base_url = str(site.anon.base_url).rstrip("/")
    spec = site.anon.get("/openapi.json").text
    schema = schemathesis.openapi.from_dict(json.loads(spec))
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    for path, path_parameters, query in known_requests(site):
        case = schema[path]["GET"].Case(path_parameters=path_parameters, query=query)
        reply = case.call_and_validate(base_url=base_url, session=session, headers=headers)
        assert reply.status_code == 200, (path, path_parameters, query)
    failures = []
    for label, mode, cases in examples(spec):
        for case in cases:
            try:
                case.call_and_validate(
                    base_url=base_url,
                    session=session,
                    headers=headers,
                    # A date that fits its pattern yet does not exist (2026-02-30, year
                    # 0000) is a declared 400: a pattern cannot say which days exist.
                    excluded_checks=[positive_data_acceptance],
                )
            except (Exception, BaseExceptionGroup) as exc:  # report them all at the end
                failures.append(f"{label} [{mode.value}]: {exc}"[:2000])
                break
    return failures


def test_the_description_declares_what_is_served(site):
    spec = site.anon.get("/openapi.json").json()
    paths = spec["paths"]
    # HTML pages and forms are not described; data routes are, with their media types.
    for html in ("/", "/search", "/papers/{arxiv_id}", "/login", "/subscribe", "/for-you"):
        assert html not in paths
    assert list(paths["/feeds/daily.atom"]["get"]["responses"]["200"]["content"]) == [
        "application/atom+xml; charset=utf-8"
    ]
    assert list(paths["/papers/{arxiv_id}.bib"]["get"]["responses"]["200"]["content"]) == [
        "application/x-bibtex; charset=utf-8"
    ]
    search = {p["name"]: p["schema"] for p in paths["/search.json"]["get"]["parameters"]}
    assert search["mode"]["enum"] == ["hybrid", "keyword", "semantic"]
    assert search["page"]["maximum"] == 50
    week = next(p for p in paths["/index.json"]["get"]["parameters"] if p["name"] == "week")
    assert "pattern" in week["schema"]["anyOf"][0]
    for operations in paths.values():
        for operation in operations.values():
            assert "422" not in operation["responses"]  # invalid input is a 400 or 404 here
            assert "400" in operation["responses"]


@pytest.mark.slow  # a fuzzer
def test_schemathesis_finds_nothing_signed_out(site):
    failures = fuzz(site, *signed_out_session(site))
    assert not failures, "\n\n".join(failures)
    assert site.anon.get("/index.json").status_code == 200


@pytest.mark.slow  # a fuzzer
def test_schemathesis_finds_nothing_signed_in(site):
    failures = fuzz(site, *signed_in_session(site))
    assert not failures, "\n\n".join(failures)
    assert site.anon.get("/index.json").status_code == 200
