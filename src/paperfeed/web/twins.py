"""A page and its `.json` twin, declared once.

A handler returns a `Page`: its data (what the `.json` twin answers) and what the
template shows besides. `twin_pages` registers the handler at `path` (HTML, left out of
the OpenAPI description) and at `path.json` (JSON, described by `schema`), both with the
same parameters, and marks both cacheable unless told otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from paperfeed.web.page_cache import CACHEABLE
from paperfeed.web.schemas import answers


@dataclass
class Page:
    template: str
    data: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)  # shown by the template only
    # Where a browser goes instead (303), e.g. a search for an arXiv id opens the paper;
    # the `.json` twin answers the data all the same.
    redirect: str | None = None


def json_path(path: str) -> str:
    return "/index.json" if path == "/" else f"{path}.json"


def twin_pages(
    router: APIRouter,
    templates: Jinja2Templates,
    path: str,
    schema: type[BaseModel],
    responses: dict[int | str, dict[str, Any]] | None = None,
    cacheable: bool = True,
) -> Callable[[Callable[..., Page]], Callable[..., Page]]:
    """Registers a handler (its first parameter must be `request`) as a page and its
    JSON twin. The twin is registered first: a `{name:path}` parameter would otherwise
    swallow the `.json` suffix. The handler's docstring describes the twin in OpenAPI."""
    dependencies = [CACHEABLE] if cacheable else []

    def register(handler: Callable[..., Page]) -> Callable[..., Page]:
        @functools.wraps(handler)
        def as_json(*args: Any, **kwargs: Any) -> Response:
            return JSONResponse(handler(*args, **kwargs).data)

        @functools.wraps(handler)
        def as_html(*args: Any, **kwargs: Any) -> Response:
            page = handler(*args, **kwargs)
            if page.redirect is not None:
                return RedirectResponse(page.redirect, 303)
            return templates.TemplateResponse(
                kwargs["request"], page.template, {**page.data, **page.context}
            )

        router.get(
            json_path(path),
            response_model=None,
            responses={**answers(schema), **(responses or {})},
            dependencies=dependencies,
        )(as_json)
        router.get(
            path,
            response_model=None,
            response_class=HTMLResponse,
            include_in_schema=False,
            dependencies=dependencies,
        )(as_html)
        return handler

    return register
