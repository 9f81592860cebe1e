"""Accounts over real HTTP: sign-up, log-in, sessions, CSRF, rate limits, cookies."""

from datetime import timedelta

import pytest
from argon2 import PasswordHasher, extract_parameters

from paperfeed.services import accounts
from paperfeed.services.accounts import (
    AccountError,
    authenticate,
    create_user,
    normalize_email,
    session_user,
    set_password,
    start_session,
)
from paperfeed.services.tokens import TokenError, sign, verify
from paperfeed.store.schema import sessions, users
from paperfeed.web.accounts import RateLimits, local_path
from tests.forms import csrf_token, post_form, sign_up
from tests.helpers import live_site, loopback_client


def test_passwords_are_argon2_hashes_and_sessions_are_stored_hashed(fresh_db):
    with fresh_db.engine.begin() as conn:
        user = create_user(conn, "ada", "Ada@Example.ORG", "correct horse")
        stored = conn.execute(users.select().where(users.c.id == user.id)).one()
        assert stored.password_hash.startswith("$argon2id$")
        assert stored.email == "Ada@example.org"
        assert authenticate(conn, "ADA", "correct horse") == user
        assert authenticate(conn, "ada@example.org", "correct horse") == user
        assert authenticate(conn, "ada", "wrong horse") is None
        assert authenticate(conn, "nobody", "correct horse") is None
        token = start_session(conn, user.id)
        assert token not in {r.token_hash for r in conn.execute(sessions.select())}
        assert session_user(conn, token) == user
        set_password(conn, user.id, "another horse")  # ends every session
        assert session_user(conn, token) is None
        assert authenticate(conn, "ada", "another horse") == user


def test_a_hash_made_with_other_parameters_is_made_again_with_the_sites_at_log_in(
    fresh_db, monkeypatch
):
    # The suite hashes with argon2's cheapest parameters (tests/conftest.py); the site's
    # are RFC 9106's low-memory profile: 3 passes over 64 MiB on 4 lanes.
    site = accounts.PASSWORD_PARAMETERS
    assert (site.time_cost, site.memory_cost, site.parallelism) == (3, 65_536, 4)
    assert extract_parameters(accounts.hasher.hash("correct horse")) != site

    def stored_parameters(conn):
        stored = conn.execute(users.select().where(users.c.id == user.id)).one()
        return extract_parameters(stored.password_hash)

    with fresh_db.engine.begin() as conn:
        user = create_user(conn, "ada", "ada@example.org", "correct horse")
        old = stored_parameters(conn)
        monkeypatch.setattr(accounts, "hasher", PasswordHasher.from_parameters(site))
        assert authenticate(conn, "ada", "wrong horse") is None
        assert stored_parameters(conn) == old  # a wrong password changes nothing
        assert authenticate(conn, "ada", "correct horse") == user
        assert stored_parameters(conn) == site
        assert authenticate(conn, "ada", "correct horse") == user  # the new hash verifies


@pytest.mark.parametrize(
    ("username", "email", "password", "message"),
    [
        ("a", "a@example.org", "long enough", "username"),
        ("<script>", "a@example.org", "long enough", "username"),
        ("ada2", "not-an-email", "long enough", "email"),
        ("ada2", "a@example.org\r\nBcc: x@evil.org", "long enough", "email"),
        ("ada2", "a@example.org", "short", "password"),
        ("ADA", "other@example.org", "long enough", "already taken"),
        ("bob", "ada@EXAMPLE.org", "long enough", "already taken"),
    ],
)
def test_bad_sign_ups_are_refused_with_a_reason(sqlite_db, username, email, password, message):
    with sqlite_db.engine.begin() as conn:
        create_user(conn, "ada", "ada@example.org", "correct horse")
    with pytest.raises(AccountError, match=message), sqlite_db.engine.begin() as conn:
        create_user(conn, username, email, password)


def test_email_addresses_with_line_breaks_never_pass():
    for bad in ["a@b.org\nBcc: c@d.org", "a@b.org\rX: y", "a b@c.org", "<a@b.org>", "a@b"]:
        with pytest.raises(AccountError):
            normalize_email(bad)


def test_signed_tokens_expire_and_are_bound_to_their_purpose():
    key = b"k" * 32
    token = sign(key, "unsubscribe", "ada@example.org", max_age_s=60, now=1000)
    assert verify(key, "unsubscribe", token, now=1059) == "ada@example.org"
    with pytest.raises(TokenError, match="expired"):
        verify(key, "unsubscribe", token, now=1061)
    with pytest.raises(TokenError, match="not valid"):
        verify(key, "reset", token, now=1001)
    with pytest.raises(TokenError, match="not valid"):
        verify(b"x" * 32, "unsubscribe", token, now=1001)
    with pytest.raises(TokenError, match="malformed"):
        verify(key, "unsubscribe", "garbage", now=1001)


def test_only_local_paths_are_followed_after_a_form():
    assert local_path("/papers/2611.00001") == "/papers/2611.00001"
    for hostile in ["//evil.org", "https://evil.org", "/\\evil.org", "", None]:
        assert local_path(hostile) == "/"


def test_sign_up_log_out_log_in_over_http(fresh_db):
    with live_site(fresh_db) as client:
        page = client.get("/")
        assert "Log in" in page.text and "content-security-policy" in page.headers
        sign_up(client, "ada")
        assert 'href="/users/ada"' in client.get("/").text
        cookie = next(c for c in client.cookies.jar if c.name == "pf_session")
        assert cookie.has_nonstandard_attr("HttpOnly")
        raw = client.get("/").headers  # the session cookie is not re-sent on pages
        assert "pf_session" not in raw.get("set-cookie", "")
        assert post_form(client, "/logout", page="/").status_code == 303
        assert "Log in" in client.get("/").text
        wrong = post_form(client, "/login", {"login": "ada", "password": "nope nope"})
        assert wrong.status_code == 400 and "Wrong username or password" in wrong.text
        right = post_form(
            client, "/login", {"login": "ada", "password": "correct horse", "next": "/trending"}
        )
        assert right.status_code == 303 and right.headers["location"] == "/trending"


def test_session_cookie_attributes(fresh_db):
    with live_site(fresh_db) as client:
        token = csrf_token(client, "/signup")
        reply = client.post(
            "/signup",
            data={
                "csrf_token": token,
                "username": "ada",
                "email": "ada@example.org",
                "password": "correct horse",
            },
        )
        cookie = reply.headers["set-cookie"].lower()
        assert "pf_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_posts_without_the_right_csrf_token_are_refused(fresh_db):
    with live_site(fresh_db) as client:
        form = {"username": "ada", "email": "ada@example.org", "password": "correct horse"}
        assert client.post("/signup", data=form).status_code == 403
        assert client.post("/signup", data={**form, "csrf_token": "0" * 64}).status_code == 403
        token = csrf_token(client, "/signup")
        cross_site = client.post(
            "/signup", data={**form, "csrf_token": token}, headers={"Origin": "https://evil.org"}
        )
        assert cross_site.status_code == 403
        # Another browser's token does not work with this browser's cookie.
        with loopback_client(str(client.base_url)) as other:
            assert other.post("/signup", data={**form, "csrf_token": token}).status_code == 403
        assert client.post("/signup", data={**form, "csrf_token": token}).status_code == 303


def test_logins_and_sign_ups_are_rate_limited(fresh_db):
    limits = RateLimits(login=(3, timedelta(minutes=5)), signup=(2, timedelta(hours=1)))
    with live_site(fresh_db, rate_limits=limits) as client:
        codes = [
            post_form(client, "/login", {"login": "x", "password": "wrong wrong"}).status_code
            for _ in range(4)
        ]
        assert codes == [400, 400, 400, 429]
        sign_up(client, "ada")
        sign_up(client, "bob")
        third = post_form(
            client,
            "/signup",
            {"username": "cy", "email": "cy@example.org", "password": "correct horse"},
        )
        assert third.status_code == 429 and "Too many" in third.text


def test_cli_creates_accounts_and_admins(run_cli, db_url):
    made = run_cli("users", "add", "root", "--email", "root@example.org", "--password", "pw-long-1")
    assert made.exit_code == 0, made.output
    assert run_cli("users", "add", "x", "--email", "bad", "--password", "pw-long-1").exit_code == 1
    assert run_cli("users", "admin", "root", "--revoke").exit_code == 0
    missing = run_cli("users", "admin", "nobody")
    assert missing.exit_code == 1 and "no local account" in missing.output
    from paperfeed.store import Store

    with Store(db_url) as store, store.engine.connect() as conn:
        assert authenticate(conn, "root", "pw-long-1").is_admin is False


def test_two_workers_on_one_postgresql_share_sessions_and_votes(fresh_postgres_url, tmp_path):
    """Two app processes' worth of state (two stores, two sites) on one database: a session
    and a CSRF token made by one work on the other, and a vote cast on one counts on both."""
    from paperfeed.services.ingest import run_ingest
    from paperfeed.sources.jsonl import JsonlSource
    from paperfeed.store import Store
    from tests.feeds import listing_line, paper

    listing = tmp_path / "a.jsonl"
    listing.write_text(listing_line(paper(1), "2026-11-03"))
    with Store(fresh_postgres_url) as first, Store(fresh_postgres_url) as second:
        run_ingest(first, JsonlSource(listing), show_progress=False)
        with live_site(first) as one, live_site(second) as two:
            sign_up(one, "ada")
            two.cookies.update(one.cookies)  # the same browser, sent to the other worker
            assert 'href="/users/ada"' in two.get("/").text
            token = csrf_token(one, "/")  # a form of worker one, posted to worker two
            voted = two.post(
                "/papers/2611.00001/vote",
                headers={"X-CSRF-Token": token, "Accept": "application/json"},
            )
            assert voted.json()["upvotes"] == 1
            assert one.get("/papers/2611.00001.json").json()["upvotes"] == 1
