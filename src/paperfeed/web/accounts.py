"""Sign up, log in, log out. Forms post back to themselves; errors re-render the form.

None of the three tells whether an address has an account. With a mail server
configured, sign-up answers "check your inbox" whatever the address: a new one gets a
link that opens the account, one that has an account gets a note to its owner (both
sent after the answer). Without one, nothing can reach the address's owner, so the
account opens at once and a taken address is refused as such: a public site should set
PAPERFEED_SMTP_URL. A taken username is always said: user pages show names anyway."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from paperfeed.config import Settings
from paperfeed.errors import ActionError
from paperfeed.services.accounts import (
    AccountError,
    allow_attempt,
    authenticate,
    check_signup,
    check_signup_token,
    complete_signup,
    create_user,
    end_session,
    mail_signup,
    start_session,
)
from paperfeed.services.community import set_vote
from paperfeed.services.tokens import TokenError
from paperfeed.store import Store
from paperfeed.web.edge import site_router
from paperfeed.web.security import SESSION_COOKIE, Security


@dataclass(frozen=True)
class RateLimits:
    """Attempts allowed per client address and window."""

    login: tuple[int, timedelta] = (10, timedelta(minutes=5))
    signup: tuple[int, timedelta] = (5, timedelta(hours=1))


MAX_ARXIV_ID = 64
VoteFor = Annotated[str, Query(max_length=MAX_ARXIV_ID)]


def local_path(target: str | None) -> str:
    """Where to go after a form: only a path on this site (no //host, no scheme)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_accounts_router(
    store: Store,
    settings: Settings,
    security: Security,
    templates: Jinja2Templates,
    limits: RateLimits,
) -> APIRouter:
    # HTML forms: not part of the OpenAPI description.
    router = site_router(tags=["accounts"], include_in_schema=False)
    csrf = [Depends(security.require_csrf)]

    def form_page(
        request: Request, name: str, error: str | None, status: int, **values: str
    ) -> Response:
        return templates.TemplateResponse(
            request,
            f"{name}.html",
            {
                "error": error,
                "next": local_path(values.pop("next", None)),
                "by_mail": bool(settings.smtp_url),
                **values,
            },
            status_code=status,
        )

    def signed_in(request: Request, user_id: int, target: str) -> Response:
        with store.engine.begin() as conn:
            token = start_session(conn, user_id)
        response = RedirectResponse(local_path(target), status_code=303)
        security.set_session_cookie(request, response, token)
        return response

    @router.get("/signup")
    def signup_form(request: Request, next: str = "/") -> Response:
        return form_page(request, "signup", None, 200, next=next)

    @router.post("/signup", dependencies=csrf)
    def signup(
        request: Request,
        background: BackgroundTasks,
        username: str = Form(""),
        email: str = Form(""),
        password: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        if not allow_attempt(store, f"signup:{client_address(request)}", *limits.signup):
            return form_page(
                request, "signup", "Too many sign-ups from here; try later.", 429,
                username=username, email=email, next=next,
            )  # fmt: skip
        try:
            if settings.smtp_url:  # the password is chosen on the link's page
                pending = check_signup(store, username, email)
            else:
                with store.write() as conn:
                    user = create_user(conn, username, email, password)
        except AccountError as exc:
            return form_page(
                request, "signup", str(exc), 400, username=username, email=email, next=next
            )
        if not settings.smtp_url:
            return signed_in(request, user.id, next)
        background.add_task(mail_signup, store, settings, pending)
        return templates.TemplateResponse(
            request,
            "subscribe_message.html",
            {
                "heading": "Check your inbox",
                "text": "We sent a message to the address you gave: follow its link to "
                "finish signing up. It works for one day.",
            },
        )

    def confirm_page(request: Request, token: str, error: str | None, status: int) -> Response:
        try:
            pending = check_signup_token(store, token)
        except TokenError as exc:
            raise HTTPException(400, str(exc)) from exc
        return templates.TemplateResponse(
            request,
            "signup_confirm.html",
            {"token": token, "username": pending.username, "error": error},
            status_code=status,
        )

    @router.get("/signup/confirm")
    def signup_confirm_page(request: Request, token: str = "") -> Response:
        return confirm_page(request, token, None, 200)

    @router.post("/signup/confirm", dependencies=csrf)
    def signup_confirm(
        request: Request, token: str = Form(""), password: str = Form("")
    ) -> Response:
        try:
            user = complete_signup(store, token, password)
        except TokenError as exc:
            raise HTTPException(400, str(exc)) from exc
        except AccountError as exc:  # a bad password, or the name or address taken since
            return confirm_page(request, token, str(exc), 400)
        return signed_in(request, user.id, "/")

    @router.get("/login")
    def login_form(request: Request, next: str = "/", vote: VoteFor = "") -> Response:
        """`vote`: the paper a signed-out reader clicked the vote button of; the vote is
        cast once they log in (a POST with its CSRF token, never on this GET)."""
        return form_page(request, "login", None, 200, next=next, vote=vote)

    @router.post("/login", dependencies=csrf)
    def login(
        request: Request,
        login: str = Form(""),
        password: str = Form(""),
        next: str = Form("/"),
        vote: Annotated[str, Form(max_length=MAX_ARXIV_ID)] = "",
    ) -> Response:
        if not allow_attempt(store, f"login:{client_address(request)}", *limits.login):
            return form_page(
                request, "login", "Too many attempts; wait a few minutes.", 429,
                login=login, next=next, vote=vote,
            )  # fmt: skip
        with store.write() as conn:  # may rehash the password
            user = authenticate(conn, login, password)
            if user is not None and vote:
                with suppress(ActionError):  # the paper is gone: the log-in still counts
                    set_vote(conn, user.id, vote, True)
        if user is None:
            return form_page(
                request, "login", "Wrong username or password.", 400,
                login=login, next=next, vote=vote,
            )  # fmt: skip
        return signed_in(request, user.id, next)

    @router.post("/logout", dependencies=csrf)
    def logout(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            with store.engine.begin() as conn:
                end_session(conn, token)
        response = RedirectResponse("/", status_code=303)
        security.clear_session_cookie(request, response)
        return response

    return router
