"""The Jinja environment every page router renders with."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from paperfeed.services.text import comment_html, web_link, with_math
from paperfeed.web.security import Security

TEMPLATES = Path(__file__).parent / "templates"


def make_templates(security: Security) -> Jinja2Templates:
    """Templates see `current_user` and `csrf_token` (put it in every POST form as
    `<input type="hidden" name="csrf_token" value="{{ csrf_token }}">`)."""
    templates = Jinja2Templates(directory=TEMPLATES, context_processors=[security.template_context])
    templates.env.filters["with_math"] = with_math
    templates.env.filters["comment_html"] = comment_html
    templates.env.filters["web_link"] = web_link
    return templates
