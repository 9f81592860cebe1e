"""Accounts: sign-up, log-in with argon2 hashes, sessions, rate limits, and the account
mails (password reset, sign-up by mail).

A reset link stops working once the password changes (its hash is part of the token), so
it works once.

Sessions are random tokens in a cookie; the database keeps only their SHA-256, so reading
the database does not let anyone act as a user.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from paperfeed.config import Settings
from paperfeed.errors import PaperfeedError
from paperfeed.records import identity_key, utcnow
from paperfeed.services import tokens
from paperfeed.services.mailer import MailError, email_templates, new_message, open_mailer
from paperfeed.store import Store
from paperfeed.store.schema import auth_attempts, sessions, users

log = logging.getLogger(__name__)

SESSION_DAYS = 30
RESET_TTL_S = 3600
SIGNUP_TTL_S = 86400
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,31}")
# Deliberately plain: one @, no spaces or control characters (so no header injection), a
# dot in the domain. Whether it exists is what the confirmation email finds out.
EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f<>,;\"]{1,64}@[^@\s\x00-\x1f\x7f<>,;\"]+\.[A-Za-z]{2,63}")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024

# RFC 9106's low-memory profile, argon2-cffi's default: on a 2-core machine about 0.25 s of
# CPU and 64 MiB for each sign-up and log-in. A hash stored with other parameters is made
# again with these at its owner's next log-in (authenticate). The tests swap in a cheaper
# hasher (tests/conftest.py): the same code, a hundredth of the cost.
PASSWORD_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)


class AccountError(PaperfeedError):
    """Sign-up or log-in input that cannot be accepted; the message says why."""


class UsernameTaken(AccountError):
    """The username (once folded) belongs to an account: public anyway, on user pages."""


class EmailTaken(AccountError):
    """The address (once folded) belongs to an account. The site does not say so to
    whoever asks (see web/accounts.py); the CLI and the address's owner may know."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    email: str | None
    is_admin: bool


def _user(row: sa.Row) -> User:
    return User(row.id, row.username, row.email, bool(row.is_admin))


def normalize_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise AccountError(f"not a valid email address: {email[:80]!r}")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def check_username(username: str) -> str:
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise AccountError(
            "a username has 2-32 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return username


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def hash_password(password: str) -> str:
    check_password(password)
    return hasher.hash(password)


def check_available(conn: sa.Connection, username: str, email: str) -> None:
    """UsernameTaken or EmailTaken if an account holds either (once folded)."""
    if conn.execute(
        sa.select(users.c.id).where(users.c.username_key == identity_key(username))
    ).first():
        raise UsernameTaken("that username is already taken")
    if conn.execute(sa.select(users.c.id).where(users.c.email_key == identity_key(email))).first():
        raise EmailTaken("that email is already taken")


def create_user(
    conn: sa.Connection, username: str, email: str, password: str, is_admin: bool = False
) -> User:
    username, email = check_username(username), normalize_email(email)
    return add_user(conn, username, email, hash_password(password), is_admin)


def add_user(
    conn: sa.Connection, username: str, email: str, password_hash: str, is_admin: bool = False
) -> User:
    """A local account from checked values (create_user, or a confirmed sign-up link).
    The unique keys decide races: of two sign-ups differing only in case, one wins."""
    check_available(conn, username, email)
    try:
        with conn.begin_nested():
            user_id = conn.execute(
                users.insert()
                .values(
                    username=username,
                    username_key=identity_key(username),
                    email=email,
                    email_key=identity_key(email),
                    password_hash=password_hash,
                    is_admin=is_admin,
                    origin="local",
                    created_at=utcnow(),
                )
                .returning(users.c.id)
            ).scalar_one()
    except sa.exc.IntegrityError as exc:  # the same name or address, signed up a moment ago
        check_available(conn, username, email)  # says which, now that it is committed
        raise AccountError("that username or email was taken a moment ago") from exc
    return User(user_id, username, email, is_admin)


def _by_login(login: str) -> sa.Select:
    key = identity_key(login)
    return sa.select(users).where((users.c.username_key == key) | (users.c.email_key == key))


def authenticate(conn: sa.Connection, login: str, password: str) -> User | None:
    """The user whose username or email is `login` (folded), if `password` is theirs."""
    row = conn.execute(_by_login(login)).first()
    if row is None or row.password_hash is None:
        hasher.hash(password)  # same time whether or not the user exists
        return None
    try:
        hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    if hasher.check_needs_rehash(row.password_hash):
        conn.execute(
            users.update().where(users.c.id == row.id).values(password_hash=hasher.hash(password))
        )
    return _user(row)


def set_password(conn: sa.Connection, user_id: int, password: str) -> None:
    """A new password; every session of the user ends."""
    conn.execute(
        users.update().where(users.c.id == user_id).values(password_hash=hash_password(password))
    )
    conn.execute(sessions.delete().where(sessions.c.user_id == user_id))


def user_by_email(conn: sa.Connection, email: str) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.email_key == identity_key(email))).first()
    return _user(row) if row is not None and row.password_hash is not None else None


def user_by_name(conn: sa.Connection, username: str) -> User | None:
    row = conn.execute(
        sa.select(users).where(users.c.username_key == identity_key(username))
    ).first()
    return _user(row) if row is not None else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: sa.Connection, user_id: int) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    # The user's expired sessions go as a new one starts: the table does not grow forever.
    conn.execute(
        sessions.delete().where(sessions.c.user_id == user_id, sessions.c.expires_at <= now)
    )
    conn.execute(
        sessions.insert().values(
            token_hash=_token_hash(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(days=SESSION_DAYS),
        )
    )
    return token


def session_user(conn: sa.Connection, token: str) -> User | None:
    row = conn.execute(
        sa.select(users)
        .join(sessions, sessions.c.user_id == users.c.id)
        .where(sessions.c.token_hash == _token_hash(token))
        .where(sessions.c.expires_at > utcnow())
    ).first()
    return _user(row) if row is not None else None


def end_session(conn: sa.Connection, token: str) -> None:
    conn.execute(sessions.delete().where(sessions.c.token_hash == _token_hash(token)))


def allow_attempt(store: Store, bucket: str, limit: int, window: timedelta) -> bool:
    """Records an attempt in `bucket`; False when `limit` were already made in `window`.
    Its own write transaction, so that concurrent attempts are counted one at a time."""
    now = utcnow()
    with store.write() as conn:
        conn.execute(auth_attempts.delete().where(auth_attempts.c.at < now - window))
        recent = conn.execute(
            sa.select(sa.func.count())
            .select_from(auth_attempts)
            .where(auth_attempts.c.bucket == bucket)
            .where(auth_attempts.c.at >= now - window)
        ).scalar_one()
        if recent >= limit:
            return False
        conn.execute(auth_attempts.insert().values(bucket=bucket, at=now))
    return True


def set_admin(conn: sa.Connection, username: str, is_admin: bool) -> None:
    changed = conn.execute(
        users.update()
        .where(users.c.username_key == identity_key(username))
        .values(is_admin=is_admin)
    ).rowcount
    if not changed:
        raise AccountError(f"no local account named {username!r}")


# --- Password reset ---


def _password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


def _password_hash_of(conn: sa.Connection, user_id: int) -> str | None:
    return conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar()


def request_password_reset(store: Store, settings: Settings, email: str) -> None:
    """Mail a reset link if an account has this address; otherwise do nothing. Callers
    run this after answering, so the answer and its timing say nothing about accounts;
    mail errors are logged for the admin."""
    try:
        email = normalize_email(email)
    except PaperfeedError:
        return
    with store.engine.connect() as conn:
        account = user_by_email(conn, email)
        password_hash = _password_hash_of(conn, account.id) if account is not None else None
    if account is None or account.email is None or password_hash is None:
        return
    token = tokens.sign(
        tokens.link_key(store),
        "password-reset",
        f"{account.id}:{_password_fingerprint(password_hash)}",
        RESET_TTL_S,
    )
    text = email_templates.get_template("reset.txt").render(
        username=account.username,
        reset_url=f"{settings.base_url}/account/reset/confirm?token={token}",
        minutes=RESET_TTL_S // 60,
        site=settings.base_url,
    )
    _send_account_mail(settings, account.email, "Reset your paperfeed password", text)


def _send_account_mail(settings: Settings, to: str, subject: str, text: str) -> None:
    """Send, and log a failure for the admin: these mails go out after the answer, whose
    content must not depend on them."""
    message = new_message(settings.mail_from, to, subject, text, None, settings.base_url)
    try:
        with open_mailer(settings) as mailer:
            mailer.send(message)
    except MailError as exc:
        log.warning("%r mail not sent: %s", subject, exc)


def _reset_target(conn: sa.Connection, token: str, key: bytes) -> int:
    payload = tokens.verify(key, "password-reset", token)
    user_id, _, fingerprint = payload.partition(":")
    password_hash = _password_hash_of(conn, int(user_id))
    if password_hash is None or _password_fingerprint(password_hash) != fingerprint:
        raise tokens.TokenError("this reset link was already used")
    return int(user_id)


def check_reset_token(store: Store, token: str) -> None:
    with store.engine.connect() as conn:
        _reset_target(conn, token, tokens.link_key(store))


def reset_password(store: Store, token: str, new_password: str) -> None:
    """Set the password a valid reset link is for; every session of that user ends."""
    key = tokens.link_key(store)
    with store.write() as conn:
        set_password(conn, _reset_target(conn, token, key), new_password)


# --- Sign-up by mail ---


@dataclass(frozen=True)
class SignupRequest:
    username: str
    email: str


def check_signup(store: Store, username: str, email: str) -> SignupRequest:
    """A sign-up form, checked: AccountError for a malformed value, UsernameTaken for a
    name an account holds (public anyway, on user pages). Whether the address has an
    account is not looked at: `mail_signup` finds out after the answer. The password is
    chosen on the link's page, so no password or hash ever travels in a mail."""
    request = SignupRequest(check_username(username), normalize_email(email))
    with store.engine.connect() as conn:
        if user_by_name(conn, request.username) is not None:
            raise UsernameTaken("that username is already taken")
    return request


def mail_signup(store: Store, settings: Settings, request: SignupRequest) -> None:
    """Mail the address a link that opens the account; or, when an account has that
    address already, tell its owner instead (someone tried to sign up with it). Either
    way the person who asked sees the same answer (callers run this after answering)."""
    with store.engine.connect() as conn:
        owner = user_by_email(conn, request.email)
    if owner is not None:
        text = email_templates.get_template("signup_taken.txt").render(
            username=owner.username,
            login_url=f"{settings.base_url}/login",
            reset_url=f"{settings.base_url}/account/reset",
            site=settings.base_url,
        )
        _send_account_mail(settings, request.email, "Your paperfeed account", text)
        return
    payload = json.dumps([request.username, request.email])
    token = tokens.sign(tokens.link_key(store), "signup", payload, SIGNUP_TTL_S)
    text = email_templates.get_template("signup.txt").render(
        username=request.username,
        confirm_url=f"{settings.base_url}/signup/confirm?token={token}",
        hours=SIGNUP_TTL_S // 3600,
        site=settings.base_url,
    )
    _send_account_mail(settings, request.email, "Confirm your paperfeed account", text)


def check_signup_token(store: Store, token: str) -> SignupRequest:
    try:
        username, email = json.loads(tokens.verify(tokens.link_key(store), "signup", token))
    except (ValueError, TypeError) as exc:  # signed by us, so only a bug could get here
        raise tokens.TokenError("this link is malformed") from exc
    return SignupRequest(username, email)


def complete_signup(store: Store, token: str, password: str) -> User:
    """Open the account a sign-up link asks for, with the password chosen on its page.
    Its holder has shown they read the address's mail, so AccountError may now say that
    the name or address got taken meanwhile."""
    request = check_signup_token(store, token)
    password_hash = hash_password(password)
    with store.write() as conn:
        return add_user(conn, request.username, request.email, password_hash)
