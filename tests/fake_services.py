"""arXiv (OAI-PMH and the Atom API) and Hugging Face's daily_papers played on a loopback
server, day after day, for the update tests and benchmarks/update.py.

A `World` holds papers by announcement day; `publish(day)` makes a day's papers visible,
as arXiv's announcement and Hugging Face's list do each morning. The answers have the real
services' shapes (tests/feeds.py); what is in them is given by the caller: invented papers
in the tests, records read at run time from ../shared/data in the benchmark.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from tests.feeds import atom_feed, hf_api_entry, oai_page, oai_raw_metadata
from tests.loopback import LoopbackServer, Reply

OAI_PAGE = 4  # records per ListRecords page: small, so tokens and checkpoints are used


@dataclass
class World:
    arxiv: dict[date, list[dict]] = field(default_factory=dict)  # announced that day
    hf: dict[date, list[dict]] = field(default_factory=dict)  # featured that day
    published_through: date | None = None
    oai_page_size: int = OAI_PAGE
    oai_delay_s: float = 0.0  # each ListRecords answer waits this long (a slow server)
    oai_down: bool = False  # 503 to everything (the fallback to the Atom API)
    hf_broken_day: date | None = None  # this day's list is not JSON

    def publish(self, day: date) -> None:
        self.published_through = day

    def _visible(self, day: date) -> bool:
        return self.published_through is not None and day <= self.published_through

    def announced(self, since: date, until: date) -> list[tuple[date, dict]]:
        return [
            (day, p)
            for day in sorted(self.arxiv)
            if since <= day <= until and self._visible(day)
            for p in self.arxiv[day]
        ]

    # --- OAI-PMH ---
    def oai(self, params: dict[str, str]) -> Reply:
        if self.oai_down:
            return Reply("unavailable", 503)
        token = params.get("resumptionToken")
        if token:
            spec = json.loads(bytes.fromhex(token))
        else:
            spec = {
                "set": params.get("set", ""),
                "from": params.get("from", "1990-01-01"),
                "until": params.get("until", "2999-12-31"),
                "offset": 0,
            }
        found = [
            (day, p)
            for day, p in self.announced(
                date.fromisoformat(spec["from"]), date.fromisoformat(spec["until"])
            )
            if any(c.split(".")[0] == spec["set"] for c in p["categories"])
        ]
        offset = spec["offset"]
        page = found[offset : offset + self.oai_page_size]
        rest = offset + len(page) < len(found)
        next_token = json.dumps({**spec, "offset": offset + len(page)}).encode().hex()
        if not found:
            body = (
                '<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
                '<error code="noRecordsMatch">none</error></OAI-PMH>'
            )
            return Reply(body, delay=self.oai_delay_s)
        body = oai_page(
            [(p["arxiv_id"], oai_raw_metadata(p, [_rfc2822(p["published"])])) for _, p in page],
            token=next_token if rest else ("" if offset else None),
            size=len(found),
            cursor=offset,
            datestamps={p["arxiv_id"]: day.isoformat() for day, p in page},
        )
        return Reply(body, delay=self.oai_delay_s)

    # --- the arXiv Atom API ---
    def atom(self, params: dict[str, str]) -> Reply:
        query = params.get("search_query", "")
        window = re.search(r"submittedDate:\[(\d{8})\d{4} TO (\d{8})\d{4}\]", query)
        wanted = set(re.findall(r"cat:([\w.\-]+)", query))
        if not window:
            return Reply("bad query", 400)
        since, until = (date(int(d[:4]), int(d[4:6]), int(d[6:])) for d in window.groups())
        found = [p for _, p in self.announced(since, until) if wanted.intersection(p["categories"])]
        start = int(params.get("start", "0"))
        size = int(params.get("max_results", "2000"))
        return Reply(atom_feed(found[start : start + size], len(found), start))

    # --- Hugging Face ---
    def daily_papers(self, params: dict[str, str]) -> Reply:
        day = date.fromisoformat(params["date"])
        if day == self.hf_broken_day and self._visible(day):
            return Reply("<html>oops</html>", 200, {"Content-Type": "text/html"})
        entries = self.hf.get(day, []) if self._visible(day) else []
        limit, page = int(params.get("limit", "50")), int(params.get("p", "0"))
        chosen = entries[page * limit : (page + 1) * limit]
        body = [hf_api_entry(p, upvotes=p.get("upvotes", 3), day=day.isoformat()) for p in chosen]
        return Reply(json.dumps(body), headers={"Content-Type": "application/json"})

    def serve(self) -> LoopbackServer:
        """A started loopback server; its URLs for the settings are in `urls(server)`."""
        server = LoopbackServer()
        server.route("/oai", self.oai)
        server.route("/api/query", self.atom)
        server.route("/api/daily_papers", self.daily_papers)
        return server.start()


def urls(server: LoopbackServer) -> dict[str, str]:
    """PAPERFEED_* settings that point paperfeed at the fake services."""
    return {
        "PAPERFEED_OAI_URL": f"{server.url}/oai",
        "PAPERFEED_ARXIV_API_URL": f"{server.url}/api/query",
        "PAPERFEED_HF_API_URL": f"{server.url}/api",
    }


def _rfc2822(iso: str) -> str:
    moment = date.fromisoformat(iso[:10])
    return f"{moment:%a}, {moment.day} {moment:%b %Y} 10:00:00 GMT"


def weekdays_before(day: date, count: int) -> list[date]:
    """`count` weekdays ending with `day` (arXiv announces on weekdays)."""
    days: list[date] = []
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return sorted(days)
