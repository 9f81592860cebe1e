"""/admin/outbox: the mail a site with PAPERFEED_SMTP_URL=outbox: would have sent (the
demo's), readable by an admin or from the server's own machine."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from paperfeed.config import Settings
from paperfeed.services.mailer import outbox_dir, read_outbox
from paperfeed.web.edge import site_router
from paperfeed.web.security import Security


def _from_loopback(request: Request) -> bool:
    """From this machine itself, not through a local reverse proxy (which forwards)."""
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def create_outbox_router(
    settings: Settings, security: Security, templates: Jinja2Templates
) -> APIRouter:
    router = site_router(include_in_schema=False)

    @router.get("/admin/outbox", response_class=HTMLResponse)
    def outbox(request: Request) -> Response:
        user = security.user(request)
        if not _from_loopback(request) and not (user and user.is_admin):
            raise HTTPException(403, "the outbox is for this site's operator")
        folder = outbox_dir(settings)
        return templates.TemplateResponse(
            request,
            "outbox.html",
            {"folder": folder, "messages": read_outbox(folder) if folder else []},
        )

    return router
