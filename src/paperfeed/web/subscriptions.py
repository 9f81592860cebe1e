"""Pages for digests and password resets: thin wrappers over services/subscriptions.py.

Links in emails open a page (GET, changes nothing) whose button POSTs. Every POST
depends on `security.require_csrf`, except POST /unsubscribe: RFC 8058 one-click
unsubscribe comes from a mail client, which has no CSRF cookie. There the signed token
is the authorization: it is unguessable, names one subscription, reaches only that
subscription's mailbox, and can do one thing, idempotently: stop that subscription.
A forged request would need the token, and with it could only do what its holder can.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from paperfeed.config import Settings
from paperfeed.errors import PaperfeedError
from paperfeed.services import accounts
from paperfeed.services import subscriptions as service
from paperfeed.services.accounts import allow_attempt
from paperfeed.services.tokens import TokenError
from paperfeed.store import Store
from paperfeed.web.accounts import client_address
from paperfeed.web.edge import site_router
from paperfeed.web.security import Security

# Each sends an email: limit per client address, across workers.
MAIL_REQUESTS_PER_HOUR = 10

log = logging.getLogger(__name__)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def create_subscriptions_router(
    store: Store, settings: Settings, security: Security, templates: Jinja2Templates
) -> APIRouter:
    # HTML pages and forms: not part of the OpenAPI description.
    router = site_router(include_in_schema=False)
    csrf = [Depends(security.require_csrf)]

    def message(request: Request, heading: str, text: str, status: int = 200) -> Response:
        return templates.TemplateResponse(
            request,
            "subscribe_message.html",
            {"heading": heading, "text": text},
            status_code=status,
        )

    def limit_mail(request: Request, what: str) -> None:
        bucket = f"{what}:{client_address(request)}"
        if not allow_attempt(store, bucket, MAIL_REQUESTS_PER_HOUR, timedelta(hours=1)):
            raise HTTPException(429, "too many requests from your address: try again later")

    @router.get("/subscribe", response_class=HTMLResponse)
    def subscribe_form(request: Request) -> Response:
        user = security.user(request)
        return templates.TemplateResponse(
            request,
            "subscribe.html",
            {
                "form": {
                    "email": user.email if user else "",
                    "frequency": "daily",
                    "trending": True,
                },
                "no_mail": not settings.smtp_url,
            },
        )

    @router.post("/subscribe", response_class=HTMLResponse, dependencies=csrf)
    def subscribe(
        request: Request,
        email: Annotated[str, Form()] = "",
        frequency: Annotated[str, Form()] = "daily",
        trending: Annotated[bool, Form()] = False,
        for_you: Annotated[bool, Form()] = False,
        categories: Annotated[str, Form()] = "",
        queries: Annotated[str, Form()] = "",
        authors: Annotated[str, Form()] = "",
    ) -> Response:
        form = {
            "email": email,
            "frequency": frequency,
            "trending": trending,
            "for_you": for_you,
            "categories": categories,
            "queries": queries,
            "authors": authors,
        }
        try:
            prefs = service.clean_prefs(
                trending,
                for_you,
                categories.replace(",", " ").split(),
                _lines(queries),
                _lines(authors),
            )
            limit_mail(request, "subscribe")
            service.request_subscription(
                store, settings, email, frequency, prefs, security.user(request)
            )
        except PaperfeedError as exc:
            said = str(exc)
            if isinstance(exc, service.ConfirmationNotSent):
                log.warning("%s", exc)  # the server, address and reply: the operator's
                said = "We could not send the confirmation email just now. Please try again later."
            return templates.TemplateResponse(
                request, "subscribe.html", {"form": form, "error": said}, status_code=400
            )
        return message(
            request,
            "Check your inbox",
            f"We sent a confirmation link to {email.strip()}. Digests start once you "
            "confirm; the link works for 3 days.",
        )

    @router.get("/subscribe/confirm", response_class=HTMLResponse)
    def confirm_page(request: Request, token: str = "") -> Response:
        return templates.TemplateResponse(request, "subscribe_confirm.html", {"token": token})

    @router.post("/subscribe/confirm", response_class=HTMLResponse, dependencies=csrf)
    def confirm(request: Request, token: Annotated[str, Form()] = "") -> Response:
        try:
            subscription = service.confirm_subscription(store, token)
        except TokenError as exc:
            raise HTTPException(400, str(exc)) from exc
        return message(
            request,
            "Subscribed",
            f"{subscription.email} will receive the {subscription.frequency} digest. Every "
            "digest has a link to unsubscribe in one click.",
        )

    @router.get("/unsubscribe", response_class=HTMLResponse)
    def unsubscribe_page(request: Request, token: str = "") -> Response:
        try:
            subscription = service.subscription_for_unsubscribe(store, token)
        except TokenError as exc:
            raise HTTPException(400, str(exc)) from exc
        return templates.TemplateResponse(
            request, "subscribe_unsubscribe.html", {"token": token, "subscription": subscription}
        )

    @router.post("/unsubscribe", response_class=HTMLResponse)
    def unsubscribe(
        request: Request, token: str = "", form_token: Annotated[str, Form(alias="token")] = ""
    ) -> Response:
        """RFC 8058 one-click POSTs (token in the URL, body List-Unsubscribe=One-Click)
        and the page's button (token in the form): authorized by the signed token, see
        the module docstring."""
        try:
            subscription = service.unsubscribe(store, token or form_token)
        except TokenError as exc:
            raise HTTPException(400, str(exc)) from exc
        return message(
            request, "Unsubscribed", f"{subscription.email} will receive no more digests."
        )

    @router.get("/account/reset", response_class=HTMLResponse)
    def reset_form(request: Request) -> Response:
        return templates.TemplateResponse(request, "account_reset.html", {})

    @router.post("/account/reset", response_class=HTMLResponse, dependencies=csrf)
    def reset_request(
        request: Request, background: BackgroundTasks, email: Annotated[str, Form()] = ""
    ) -> Response:
        limit_mail(request, "reset")
        # After the answer: its content and timing are the same whether or not the
        # account exists.
        background.add_task(accounts.request_password_reset, store, settings, email)
        return message(
            request,
            "Check your inbox",
            "If an account has this address, we sent it a link to choose a new password. "
            "The link works for one hour.",
        )

    @router.get("/account/reset/confirm", response_class=HTMLResponse)
    def reset_page(request: Request, token: str = "") -> Response:
        try:
            accounts.check_reset_token(store, token)
        except TokenError as exc:
            raise HTTPException(400, str(exc)) from exc
        return templates.TemplateResponse(request, "account_reset_confirm.html", {"token": token})

    @router.post("/account/reset/confirm", response_class=HTMLResponse, dependencies=csrf)
    def reset(
        request: Request,
        token: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            accounts.reset_password(store, token, password)
        except TokenError as exc:
            raise HTTPException(400, str(exc)) from exc
        except PaperfeedError as exc:  # a password that is too short or too long
            return templates.TemplateResponse(
                request,
                "account_reset_confirm.html",
                {"token": token, "error": str(exc)},
                status_code=400,
            )
        return message(
            request, "Password changed", "Log in with your new password; other sessions ended."
        )

    return router
