"""Subscribing to digests (double opt-in) and one-click unsubscribing.

Every link in an email carries a signed, expiring token (services/tokens.py, whose table
lists every kind of link); a confirmation link stops working when a newer request
replaces it. The account mails (password reset, sign-up) live in services/accounts.py.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from paperfeed.config import Settings
from paperfeed.errors import PaperfeedError
from paperfeed.query import QueryError, parse_query, words_of
from paperfeed.records import identity_key, utcnow
from paperfeed.services import tokens
from paperfeed.services.accounts import (
    User,
    normalize_email,
    user_by_email,
)
from paperfeed.services.mailer import (
    MailError,
    email_templates,
    new_message,
    open_mailer,
)
from paperfeed.store import Store
from paperfeed.store import subscriptions as rows
from paperfeed.store.subscriptions import Subscription

log = logging.getLogger(__name__)

FREQUENCIES = ("daily", "weekly")
CONFIRM_TTL_S = 3 * 86400
# Digests stay in mailboxes for a long time and their unsubscribe links must keep working.
UNSUBSCRIBE_TTL_S = 400 * 86400
MAX_CATEGORIES, MAX_QUERIES, MAX_AUTHORS = 20, 10, 20
MAX_QUERY_CHARS, MAX_AUTHOR_CHARS = 300, 100
_CATEGORY = re.compile(r"[A-Za-z][A-Za-z-]*(\.[A-Za-z][A-Za-z-]*)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class SubscriptionError(PaperfeedError):
    """Subscription input or a link that cannot be accepted; the message says why."""


@dataclass
class Prefs:
    """What a digest holds for one subscriber."""

    trending: bool = True
    for_you: bool = False
    categories: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)  # in the search box's language
    authors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prefs:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _single_line(value: str, what: str, max_chars: int) -> str:
    """Refuse control characters (CR/LF above all) rather than strip them: they never
    belong in a query or a name, and a silent fix would hide an injection attempt."""
    if _CONTROL.search(value):
        raise SubscriptionError(f"{what} may not contain line breaks or control characters")
    value = " ".join(value.split())
    if len(value) > max_chars:
        raise SubscriptionError(f"{what} is longer than {max_chars} characters")
    return value


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def clean_prefs(
    trending: bool = True,
    for_you: bool = False,
    categories: Iterable[str] = (),
    queries: Iterable[str] = (),
    authors: Iterable[str] = (),
) -> Prefs:
    """Validated preferences, or SubscriptionError saying what is wrong."""
    cats = _unique(c.strip() for c in categories)
    for category in cats:
        if not _CATEGORY.fullmatch(category):
            raise SubscriptionError(f"not an arXiv category: {category[:40]!r} (e.g. cs.CL)")
    saved = _unique(_single_line(q, "a saved search", MAX_QUERY_CHARS) for q in queries)
    for query in saved:
        try:
            parsed = parse_query(query)
        except QueryError as exc:
            raise SubscriptionError(f"saved search {query[:60]!r}: {exc}") from exc
        if not (parsed.terms or parsed.has_filters or parsed.arxiv_id):
            raise SubscriptionError(f"saved search {query[:60]!r} has nothing to match")
    names = _unique(_single_line(a, "an author name", MAX_AUTHOR_CHARS) for a in authors)
    for name in names:
        if not words_of(name):
            raise SubscriptionError(f"not an author name: {name[:40]!r}")
    for values, limit, what in (
        (cats, MAX_CATEGORIES, "categories"),
        (saved, MAX_QUERIES, "saved searches"),
        (names, MAX_AUTHORS, "authors"),
    ):
        if len(values) > limit:
            raise SubscriptionError(f"at most {limit} {what}")
    prefs = Prefs(trending, for_you, cats, saved, names)
    if not (trending or for_you or cats or saved or names):
        raise SubscriptionError("choose at least one thing to receive")
    return prefs


def _check_frequency(frequency: str) -> str:
    if frequency not in FREQUENCIES:
        raise SubscriptionError(f"frequency is {' or '.join(FREQUENCIES)}, not {frequency!r}")
    return frequency


def unsubscribe_token(key: bytes, subscription: Subscription) -> str:
    return tokens.sign(
        key, "unsubscribe", f"{subscription.id}:{subscription.email}", UNSUBSCRIBE_TTL_S
    )


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/unsubscribe?token={token}"


def _send_confirmation(
    store: Store, settings: Settings, subscription_id: int, email: str, nonce: str
) -> None:
    token = tokens.sign(
        tokens.link_key(store), "subscribe-confirm", f"{subscription_id}:{nonce}", CONFIRM_TTL_S
    )
    text = email_templates.get_template("confirm.txt").render(
        confirm_url=f"{settings.base_url}/subscribe/confirm?token={token}",
        site=settings.base_url,
        days=CONFIRM_TTL_S // 86400,
    )
    message = new_message(
        settings.mail_from, email, "Confirm your paperfeed digest", text, None, settings.base_url
    )
    try:
        with open_mailer(settings) as mailer:
            mailer.send(message)
    except MailError as exc:
        raise SubscriptionError(f"could not send the confirmation email: {exc}") from exc


def request_subscription(
    store: Store,
    settings: Settings,
    email: str,
    frequency: str,
    prefs: Prefs,
    user: User | None = None,
) -> None:
    """Record the request and mail a confirmation link. Nothing changes for an active
    subscriber until that link is used. The answer is the same whether or not the
    address was subscribed before."""
    email = normalize_email(email)
    _check_frequency(frequency)
    # Recommendations are per account: only for the account that owns this address.
    owns = user is not None and identity_key(user.email or "") == identity_key(email)
    user_id = user.id if user is not None and owns else None
    if user_id is None:
        prefs.for_you = False
    nonce = secrets.token_urlsafe(12)
    try:
        subscription_id = _record_request(store, email, user_id, frequency, prefs, nonce)
    except sa.exc.IntegrityError as exc:  # the same address, requested a moment ago
        raise SubscriptionError(
            "a request for this address is being handled: check your inbox"
        ) from exc
    _send_confirmation(store, settings, subscription_id, email, nonce)


def _record_request(
    store: Store, email: str, user_id: int | None, frequency: str, prefs: Prefs, nonce: str
) -> int:
    with store.write() as conn:
        existing = rows.subscription_by_email(conn, email)
        if existing is None:
            subscription_id = rows.insert_subscription(
                conn, email, user_id, "pending", frequency, prefs.to_json(), nonce
            )
        elif existing.status == "active":
            subscription_id = existing.id
            pending = {"frequency": frequency, "prefs": prefs.to_json(), "user_id": user_id}
            rows.update_subscription(conn, existing.id, pending_prefs=pending, confirm_nonce=nonce)
        else:
            subscription_id = existing.id
            rows.update_subscription(
                conn,
                existing.id,
                status="pending",
                frequency=frequency,
                prefs=prefs.to_json(),
                user_id=user_id,
                confirm_nonce=nonce,
            )
    return subscription_id


def confirm_subscription(store: Store, token: str) -> Subscription:
    payload = tokens.verify(tokens.link_key(store), "subscribe-confirm", token)
    subscription_id, _, nonce = payload.partition(":")
    with store.write() as conn:
        found = rows.subscription_by_id(conn, int(subscription_id))
        if found is None or found.confirm_nonce != nonce:
            raise tokens.TokenError(
                "this confirmation link was already used, or a newer one replaced it"
            )
        values: dict[str, Any] = {
            "status": "active",
            "confirm_nonce": None,
            "pending_prefs": None,
            "confirmed_at": utcnow(),
            "unsubscribed_at": None,
        }
        if found.pending_prefs is not None:
            values.update(
                frequency=found.pending_prefs["frequency"],
                prefs=found.pending_prefs["prefs"],
                user_id=found.pending_prefs["user_id"],
            )
        rows.update_subscription(conn, found.id, **values)
        confirmed = rows.subscription_by_id(conn, found.id)
    assert confirmed is not None
    return confirmed


def subscription_for_unsubscribe(store: Store, token: str) -> Subscription:
    """The subscription an unsubscribe token names; TokenError if none does any more."""
    payload = tokens.verify(tokens.link_key(store), "unsubscribe", token)
    subscription_id, _, email = payload.partition(":")
    with store.engine.connect() as conn:
        found = rows.subscription_by_id(conn, int(subscription_id))
    # The address too: a deleted subscription's id may be reused by someone else.
    if found is None or found.email != email:
        raise tokens.TokenError("this subscription no longer exists")
    return found


def unsubscribe(store: Store, token: str) -> Subscription:
    """End the subscription the token names. Idempotent: a second click changes nothing."""
    found = subscription_for_unsubscribe(store, token)
    if found.status != "unsubscribed":
        with store.write() as conn:
            rows.update_subscription(
                conn, found.id, status="unsubscribed", unsubscribed_at=utcnow(), confirm_nonce=None
            )
    return found


def add_subscriber(
    store: Store,
    settings: Settings,
    email: str,
    frequency: str,
    prefs: Prefs,
    confirmed: bool,
) -> Subscription:
    """The admin's way in: active at once with `confirmed`, else the usual double opt-in."""
    email = normalize_email(email)
    _check_frequency(frequency)
    if not confirmed:
        request_subscription(store, settings, email, frequency, prefs)
    else:
        with store.write() as conn:
            account = user_by_email(conn, email)
            user_id = account.id if account is not None else None
            if not user_id:
                prefs.for_you = False
            existing = rows.subscription_by_email(conn, email)
            if existing is None:
                rows.insert_subscription(
                    conn, email, user_id, "active", frequency, prefs.to_json(), None
                )
            else:
                rows.update_subscription(
                    conn,
                    existing.id,
                    status="active",
                    frequency=frequency,
                    prefs=prefs.to_json(),
                    user_id=user_id,
                    pending_prefs=None,
                    confirm_nonce=None,
                    confirmed_at=utcnow(),
                )
    with store.engine.connect() as conn:
        found = rows.subscription_by_email(conn, email)
    assert found is not None
    return found


def remove_subscriber(store: Store, email: str) -> None:
    with store.write() as conn:
        if not rows.delete_subscription(conn, email.strip()):
            raise SubscriptionError(f"no subscriber {email.strip()[:80]!r}")


def list_subscribers(store: Store) -> list[dict[str, Any]]:
    """Every subscriber with preferences and their newest digest's status and error."""
    with store.engine.connect() as conn:
        found = rows.list_subscriptions(conn)
    return [
        {
            "email": row["email"],
            "status": row["status"],
            "frequency": row["frequency"],
            "username": row["username"],
            "prefs": row["prefs"],
            "awaiting_confirmation": row["pending_prefs"] is not None,
            "created_at": row["created_at"].isoformat(timespec="seconds"),
            "last_digest": None
            if row["last_period"] is None
            else {
                "period": row["last_period"],
                "status": row["last_status"],
                "attempts": row["last_attempts"],
                "error": row["last_error"],
            },
        }
        for row in found
    ]
