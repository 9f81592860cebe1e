"""Building sources from settings: the one place that `paperfeed ingest`, `paperfeed
update`, `serve --update-every` and the tests get them from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from paperfeed.config import Settings
from paperfeed.records import PaperRecord
from paperfeed.sources.arxiv_api import ArxivApiSource
from paperfeed.sources.base import Item, Skipped, Source
from paperfeed.sources.hf_daily import HfDailyApiSource
from paperfeed.sources.http import HttpClient
from paperfeed.sources.oai import OaiSource

# Archives that arXiv's OAI-PMH server groups under the `physics` set.
_PHYSICS_ARCHIVES = {
    "astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph",
    "nlin", "nucl-ex", "nucl-th", "physics", "quant-ph",
}  # fmt: skip


def oai_set(category: str) -> str:
    """The OAI-PMH set that holds a category: cs.CL -> cs, hep-th -> physics:hep-th."""
    archive = category.split(".")[0]
    return f"physics:{archive}" if archive in _PHYSICS_ARCHIVES else archive


def arxiv_api(
    settings: Settings,
    client: HttpClient,
    categories: list[str],
    since: date,
    until: date,
    page_size: int = 2000,
) -> ArxivApiSource:
    return ArxivApiSource(
        settings.arxiv_api_url, categories, since, until, client, page_size=page_size
    )


def oai(
    settings: Settings,
    client: HttpClient,
    set_spec: str,
    since: date | None,
    until: date | None,
    metadata_prefix: str = "arXivRaw",
) -> OaiSource:
    return OaiSource(settings.oai_url, set_spec, since, until, metadata_prefix, client)


def hf_daily_api(settings: Settings, client: HttpClient, days: list[date]) -> HfDailyApiSource:
    return HfDailyApiSource(settings.hf_api_url, days, client)


def days_between(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


class InCategories:
    """A source's papers in any of `categories` (primary or cross-listed); the others are
    skipped. An OAI-PMH set is a whole archive (cs), the configuration names a few of its
    categories."""

    def __init__(self, source: Source, categories: list[str]) -> None:
        self.source = source
        self.categories = set(categories)
        self.kind = source.kind
        self.job = f"{source.job}:in:{','.join(sorted(self.categories))}"

    def progress(self) -> tuple[int, int, str] | None:
        return self.source.progress()

    def items(self, resume_from: str | None) -> Iterator[Item]:
        for item in self.source.items(resume_from):
            if isinstance(item, PaperRecord) and not self.categories.intersection(item.categories):
                yield Skipped()
            else:
                yield item
