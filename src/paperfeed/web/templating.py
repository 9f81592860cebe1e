"""The Jinja environment every page router renders with."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import BytecodeCache, Environment
from jinja2.bccache import Bucket
from markupsafe import Markup

from paperfeed.services.paper_views import PaperView, Submitter
from paperfeed.services.text import comment_html, web_link, with_math
from paperfeed.web.security import Security

TEMPLATES = Path(__file__).parent / "templates"


class _CompiledTemplates(BytecodeCache):
    """Compiled templates kept in memory for every environment of the process. Each app
    has its own environment (its globals close over its store), so without this each one
    would parse and compile every template again: the tests build hundreds of apps in a
    process. Jinja checks the source's checksum before it uses a compiled template."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


def with_params(request: Request, **changes: str | int | None) -> str:
    """This page's path and query with `changes` (None removes a parameter): a relative
    link, so that it never names the Host the request came with."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    query += [(k, str(v)) for k, v in changes.items() if v is not None]
    return f"{request.url.path}?{urlencode(query)}" if query else request.url.path


# Listed papers whose text and facts a process keeps rendered: a day's list, trending and
# the searches of the last minutes, at about 1.5 KB each.
PAPER_PARTS_KEPT = 4_096


@dataclass(frozen=True)
class ShownPaper:
    """What _paper_text.html shows of a listed paper, and nothing else: the key its
    rendering is kept under, so that a change to any of it renders it again."""

    arxiv_id: str
    title: str
    authors: tuple[str, ...]
    tldr: str | None
    abstract: str
    ai_summary: str | None
    snippet: Markup | None
    abs_url: str
    primary_category: str | None
    announced_date: date | None
    published_at: datetime | None
    github_repo: str | None
    github_stars: int | None
    organization: str | None
    submitted_by: Submitter | None

    @classmethod
    def of(cls, p: PaperView, snippet: Markup | None) -> ShownPaper:
        return cls(
            p.arxiv_id,
            p.title,
            tuple(p.authors),
            p.tldr,
            p.abstract,
            p.ai_summary,
            snippet,
            p.abs_url,
            p.primary_category,
            p.announced_date,
            p.published_at,
            p.github_repo,
            p.github_stars,
            p.organization,
            p.submitted_by,
        )


class PaperParts(NamedTuple):
    text: Markup
    facts: Markup


def paper_parts(env: Environment) -> Callable[[PaperView, Markup | None], PaperParts]:
    """A listed paper's text and facts, the same for every reader, rendered once and kept
    (PAPER_PARTS_KEPT): the larger half of a list's rendering, where a signed-in reader's
    votes and reading marks around them are rendered for each page."""

    @lru_cache(maxsize=PAPER_PARTS_KEPT)
    def render(shown: ShownPaper) -> PaperParts:
        parts = env.get_template("_paper_text.html").module
        return PaperParts(parts.paper_text(shown, shown.snippet), parts.paper_facts(shown))  # type: ignore[attr-defined]

    return lambda p, snippet=None: render(ShownPaper.of(p, snippet))


_URL = re.compile(r"https?://[^\s<>\"']+")


def link_urls(text: str) -> Markup:
    """Plain text with its http(s) URLs as links (the outbox's mails: confirm links)."""
    parts, last = [], 0
    for match in _URL.finditer(text):
        url = html.escape(match.group(0))
        parts += [html.escape(text[last : match.start()]), f'<a href="{url}">{url}</a>']
        last = match.end()
    return Markup("".join([*parts, html.escape(text[last:])]))


def make_templates(security: Security) -> Jinja2Templates:
    """Templates see `current_user` and `csrf_token` (put it in every POST form as
    `<input type="hidden" name="csrf_token" value="{{ csrf_token }}">`)."""
    templates = Jinja2Templates(directory=TEMPLATES, context_processors=[security.template_context])
    templates.env.bytecode_cache = _COMPILED
    templates.env.filters["with_math"] = with_math
    templates.env.filters["comment_html"] = comment_html
    templates.env.filters["web_link"] = web_link
    templates.env.filters["link_urls"] = link_urls
    templates.env.globals["with_params"] = with_params
    templates.env.globals["paper_parts"] = paper_parts(templates.env)
    return templates
