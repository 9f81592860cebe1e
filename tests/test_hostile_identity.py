"""Identity and trust under attack (issue 10, classes 4, 5, 7, 10), on SQLite and PostgreSQL:
names and addresses fold one way everywhere, forwarded headers are believed only from
listed proxies, imported submitters are never local accounts, and sign-up does not tell
whether an address has an account."""

import json
import re
import threading
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from paperfeed.cli import cli
from paperfeed.config import Settings, parse_trusted_proxies
from paperfeed.records import PaperRecord, identity_key, utcnow, validate_paper
from paperfeed.services.accounts import (
    AccountError,
    EmailTaken,
    UsernameTaken,
    authenticate,
    create_user,
    hash_password,
    user_by_email,
    user_by_name,
)
from paperfeed.services.community import submitted_by
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.hf_daily import HfDailyFileSource
from paperfeed.store import Store
from paperfeed.store import subscriptions as subscription_rows
from paperfeed.store.db import _sqlalchemy_url
from paperfeed.store.migrations import LATEST_VERSION, MIGRATIONS, current_version
from paperfeed.store.papers import upsert_papers
from paperfeed.store.schema import (
    daily_entries,
    imported_submitters,
    metadata,
    papers,
    schema_migrations,
    subscriptions,
    users,
)
from paperfeed.web.accounts import RateLimits
from tests.feeds import hf_api_entry, paper
from tests.forms import csrf_token, post_form, sign_up
from tests.helpers import live_site, site_in_process

# --- Class 4: one folding rule ---


def test_one_folding_rule_for_case_unicode_forms_and_german_sharp_s():
    composed, decomposed = "\u00c9MILE@example.org", "E\u0301mile@Example.ORG"
    assert identity_key(composed) == identity_key(decomposed) == "\u00e9mile@example.org"
    assert identity_key("STRASSE@example.de") == identity_key("stra\u00dfe@example.de")
    assert identity_key("\uff21da") == identity_key("ADA") == "ada"  # fullwidth A
    assert identity_key("ada") != identity_key("adb")


def test_non_ascii_addresses_fold_the_same_in_accounts_and_subscriptions(fresh_db):
    with fresh_db.write() as conn:
        emile = create_user(conn, "emile", "\u00e9mile@example.org", "correct horse")
        strasse = create_user(conn, "hans", "stra\u00dfe@example.de", "correct horse")
    with fresh_db.write() as conn:
        # SQLite's lower() leaves '\u00c9' alone; the key does not depend on the engine.
        assert authenticate(conn, "\u00c9MILE@EXAMPLE.ORG", "correct horse") == emile
        assert authenticate(conn, "E\u0301mile@example.org", "correct horse") == emile
        assert authenticate(conn, "STRASSE@example.de", "correct horse") == strasse
        assert user_by_email(conn, "\u00c9mile@example.org") == emile
        for taken in ["\u00c9MILE@example.org", "STRASSE@EXAMPLE.DE"]:
            with pytest.raises(EmailTaken), conn.begin_nested():
                create_user(conn, "someone", taken, "correct horse")
        subscription_rows.insert_subscription(
            conn, "\u00c9mile@example.org", None, "active", "daily", {}, None
        )
        found = subscription_rows.subscription_by_email(conn, "e\u0301mile@EXAMPLE.org")
        assert found is not None and found.email == "\u00c9mile@example.org"
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            subscription_rows.insert_subscription(
                conn, "\u00e9mile@example.org", None, "pending", "daily", {}, None
            )
        assert subscription_rows.delete_subscription(conn, "\u00c9MILE@EXAMPLE.ORG")


@pytest.mark.slow  # many clients at once
def test_concurrent_sign_ups_differing_only_in_case_make_one_account(fresh_db):
    """Eight sign-ups at once: four names that differ only in case, then four addresses
    that do. The unique keys let exactly one of each through, on both engines."""
    attempts = [(name, f"{name.lower()}{i}@example.org") for i, name in enumerate(
        ["Ada", "ADA", "ada", "aDA"]
    )] + [(f"bo{i}", address) for i, address in enumerate(
        ["bo@example.org", "BO@example.org", "Bo@Example.org", "bO@EXAMPLE.ORG"]
    )]  # fmt: skip
    start = threading.Barrier(len(attempts))
    made, refused = [], []

    def sign_up_one(name: str, email: str) -> None:
        start.wait()
        try:
            with fresh_db.write() as conn:
                made.append((create_user(conn, name, email, f"password of {name}"), email))
        except AccountError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=sign_up_one, args=a) for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(made) == 2 and len(refused) == 6, (made, refused)
    assert all("taken" in reason for reason in refused)
    with fresh_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 2
    ada = next(user for user, _ in made if user.username.lower() == "ada")
    bo, bo_email = next((user, email) for user, email in made if user.username.startswith("bo"))
    with fresh_db.write() as conn:
        for login in ["ada", "ADA", "Ada", ada.email.upper()]:
            assert authenticate(conn, login, f"password of {ada.username}") == ada
        assert authenticate(conn, "BO@EXAMPLE.ORG", f"password of {bo.username}") == bo
        # A password reset goes to the one account that holds the address.
        assert user_by_email(conn, "bo@example.org") == bo
        assert bo.email.lower() == bo_email.lower()
        assert user_by_name(conn, "ADA") == ada


# --- Class 4 and 7: migration 6 on a version 5 database ---

V6_COLUMNS = {
    ("users", "username_key"),
    ("users", "email_key"),
    ("subscriptions", "email_key"),
    ("daily_entries", "imported_submitter_id"),
}


def build_v5_database(url: str) -> sa.Engine:
    """The schema as version 5 left it: no identity keys, no imported_submitters (a Hugging
    Face submitter was a login-less `users` row), stamped 1..5."""
    old = sa.MetaData()
    for table in metadata.sorted_tables:
        if table.name != "imported_submitters":
            columns = [c for c in table.columns if (table.name, c.name) not in V6_COLUMNS]
            sa.Table(table.name, old, *(c._copy() for c in columns))
    engine = sa.create_engine(_sqlalchemy_url(url))
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(
            schema_migrations.insert(),
            [{"version": v, "name": n, "applied_at": utcnow()} for v, n, _ in MIGRATIONS[:5]],
        )
    return engine


def test_migration_6_flags_duplicates_and_separates_imported_submitters(empty_db_url):
    engine = build_v5_database(empty_db_url)
    record = {"title": "T", "abstract": "A.", "authors": ["X"], "categories": ["cs.CL"]}
    with engine.begin() as conn:
        upsert_papers(
            conn,
            [validate_paper(PaperRecord(arxiv_id=f"2601.0000{n}", **record)) for n in (1, 2, 3)],
            "arxiv",
        )
        pid = dict(conn.execute(sa.select(papers.c.arxiv_id, papers.c.id)).all())

        def add_user(name, email, origin="local", at=datetime(2026, 1, 1)):
            values = {"username": name, "email": email, "origin": origin, "created_at": at}
            if origin == "local":
                values["password_hash"] = hash_password(f"password of {name}")
            return conn.execute(users.insert().values(values).returning(users.c.id)).scalar()

        older = add_user("Ada", "ada@example.org", at=datetime(2026, 1, 1))
        newer = add_user("ada", "other@example.org", at=datetime(2026, 2, 1))
        mail_clash = add_user("cy", "ADA@example.org", at=datetime(2026, 3, 1))
        bob = add_user("bob", "bob@example.org")
        hf_user = add_user("hfsub", None, origin="huggingface")
        day = date(2026, 1, 5)
        conn.execute(
            daily_entries.insert(),
            [  # an imported entry by an imported user; one the old code credited to the
                # local bob because the Hugging Face submitter was also called bob; bob's own
                {"paper_id": pid["2601.00001"], "day": day, "submitted_by": hf_user,
                 "origin": "huggingface"},
                {"paper_id": pid["2601.00002"], "day": day, "submitted_by": bob,
                 "origin": "huggingface"},
                {"paper_id": pid["2601.00003"], "day": day, "submitted_by": bob,
                 "origin": "local"},
            ],
        )  # fmt: skip
        for email, at in [("\u00c9mile@example.org", 1), ("\u00e9mile@example.org", 2)]:
            conn.execute(
                subscriptions.insert().values(
                    email=email, status="active", frequency="daily", prefs={},
                    created_at=datetime(2026, 1, at),
                )
            )  # fmt: skip
    engine.dispose()

    with Store(empty_db_url) as store, store.write() as conn:
        assert current_version(conn) == LATEST_VERSION >= 6  # later migrations keep 6
        keys = dict(conn.execute(sa.select(users.c.id, users.c.username_key)).all())
        assert keys == {older: "ada", newer: f"ada#dup{newer}", mail_clash: "cy", bob: "bob"}
        email_keys = dict(conn.execute(sa.select(users.c.id, users.c.email_key)).all())
        assert email_keys[older] == "ada@example.org"
        assert email_keys[mail_clash] == f"ada@example.org#dup{mail_clash}"
        # The oldest account holds the name; the newer one is out of reach by it, not
        # deleted, and still logs in by its own address.
        assert authenticate(conn, "ada", "password of Ada").id == older
        assert authenticate(conn, "ada", "password of ada") is None
        assert authenticate(conn, "other@example.org", "password of ada").id == newer
        assert authenticate(conn, "cy", "password of cy").id == mail_clash
        assert user_by_email(conn, "ADA@EXAMPLE.ORG").id == older
        # Imported identities are apart; the local bob keeps only his own submission.
        assert conn.execute(sa.select(users.c.origin).distinct()).scalars().all() == ["local"]
        entries = conn.execute(
            sa.select(papers.c.arxiv_id, daily_entries.c.submitted_by, imported_submitters.c.name)
            .join(papers, papers.c.id == daily_entries.c.paper_id)
            .outerjoin(
                imported_submitters,
                imported_submitters.c.id == daily_entries.c.imported_submitter_id,
            )
            .order_by(papers.c.arxiv_id)
        ).all()
        assert [tuple(e) for e in entries] == [
            ("2601.00001", None, "hfsub"),
            ("2601.00002", None, "bob"),
            ("2601.00003", bob, None),
        ]
        assert [p.arxiv_id for p in submitted_by(conn, bob)] == ["2601.00003"]
        subs = dict(conn.execute(sa.select(subscriptions.c.email, subscriptions.c.email_key)).all())
        first = subs["\u00c9mile@example.org"]
        assert first == "\u00e9mile@example.org"
        assert subs["\u00e9mile@example.org"].startswith(f"{first}#dup")
        # New sign-ups now meet the unique keys.
        with pytest.raises(UsernameTaken), conn.begin_nested():
            create_user(conn, "ADA", "new@example.org", "correct horse")
        hfsub = create_user(conn, "hfsub", "hfsub@example.org", "correct horse")
        assert submitted_by(conn, hfsub.id) == []


# --- Class 7: imported submitters are not local accounts ---


def test_an_imported_submitter_is_never_the_local_account_of_that_name(fresh_db, tmp_path):
    with fresh_db.write() as conn:
        local_ada = create_user(conn, "ada", "ada@example.org", "correct horse")
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "2026-11-03.json").write_text(
        json.dumps(
            [hf_api_entry(paper(1), submitter="ada"), hf_api_entry(paper(2), submitter="carol")]
        )
    )
    assert run_ingest(fresh_db, HfDailyFileSource(folder), show_progress=False).added == 2
    with fresh_db.engine.connect() as conn:
        assert submitted_by(conn, local_ada.id) == []
        names = conn.execute(sa.select(imported_submitters.c.name)).scalars().all()
        assert sorted(names) == ["ada", "carol"]
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 1
    with site_in_process(fresh_db) as site:
        assert site.get("/users/ada.json").json()["submitted"] == []
        shown = site.get("/papers/2611.00001.json").json()
        assert (shown["submitted_by"], shown["submitted_by_local"]) == ("ada", False)
        page = site.get("/papers/2611.00001").text
        assert 'href="/submitters/ada">ada</a> on Hugging Face' in page
        assert 'href="/users/ada"' not in page
        # A name known only from imported data is free for a local sign-up: another person.
        assert site.get("/users/carol").status_code == 404
        sign_up(site, "carol")
        assert site.get("/users/carol.json").json()["submitted"] == []
        by_carol = site.get("/api/daily_papers", params={"submitter": "carol"}).json()
        assert [e["paper"]["id"] for e in by_carol] == ["2611.00002"]
    with fresh_db.engine.connect() as conn:
        local_carol = user_by_name(conn, "carol")
        assert local_carol is not None and submitted_by(conn, local_carol.id) == []


# --- Class 5: forwarded headers ---


def test_trusted_proxies_are_checked_and_read_in_one_place(monkeypatch, tmp_path):
    assert parse_trusted_proxies(["10.0.0.1, 192.168.0.0/16", "::1"]) == (
        "10.0.0.1/32",
        "192.168.0.0/16",
        "::1/128",
    )
    with pytest.raises(ValueError, match="not an IP address"):
        parse_trusted_proxies(["10.0.0.1,proxy.example.org"])
    monkeypatch.delenv("PAPERFEED_TRUSTED_PROXIES", raising=False)
    assert Settings.from_env().trusted_proxies == ()  # none by default
    monkeypatch.setenv("PAPERFEED_TRUSTED_PROXIES", "127.0.0.1, 10.1.0.0/24")
    assert Settings.from_env().trusted_proxies == ("127.0.0.1/32", "10.1.0.0/24")
    db = ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    monkeypatch.setenv("PAPERFEED_TRUSTED_PROXIES", "*")  # trusting everyone is not offered
    refused = CliRunner().invoke(cli, [*db, "stats"])
    # A bad setting is one line naming the variable, exit 1 (tests/test_settings.py).
    assert refused.exit_code == 1 and "not an IP address" in refused.output
    assert refused.output.startswith("Error: PAPERFEED_TRUSTED_PROXIES: ")
    monkeypatch.delenv("PAPERFEED_TRUSTED_PROXIES")
    bad_flag = CliRunner().invoke(cli, [*db, "serve", "--trusted-proxy", "everyone"])
    assert bad_flag.exit_code == 2 and "not an IP address" in bad_flag.output


def _login_codes(site, forwarded_for: list[str]) -> list[int]:
    return [
        site.post(
            "/login",
            data={"login": "x", "password": "wrong wrong", "csrf_token": csrf_token(site)},
            headers={"X-Forwarded-For": address},
        ).status_code
        for address in forwarded_for
    ]


def test_a_spoofed_forwarded_for_does_not_escape_rate_limits(fresh_db):
    limits = RateLimits(login=(2, timedelta(minutes=5)))
    # By default (uvicorn would trust 127.0.0.1), a client naming a new address each
    # time is still the loopback client it is.
    with live_site(fresh_db, rate_limits=limits) as site:
        assert _login_codes(site, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [
            400,
            400,
            429,
        ]
        cookie = sign_up_cookie(site, "https", "ada")
        assert "secure" not in cookie  # X-Forwarded-Proto not believed either


def test_a_listed_proxy_is_believed(fresh_db):
    limits = RateLimits(login=(2, timedelta(minutes=5)))
    trusted = parse_trusted_proxies(["127.0.0.1"])  # as `serve --trusted-proxy` reads it
    with live_site(fresh_db, trusted_proxies=trusted, rate_limits=limits) as site:
        assert _login_codes(site, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [400] * 3
        assert _login_codes(site, ["203.0.113.9"] * 3) == [400, 400, 429]
        assert "secure" in sign_up_cookie(site, "https", "ada")


def sign_up_cookie(site, proto: str, username: str) -> str:
    reply = site.post(
        "/signup",
        data={
            "csrf_token": csrf_token(site, "/signup"),
            "username": username,
            "email": f"{username}@example.org",
            "password": "correct horse",
        },
        headers={"X-Forwarded-Proto": proto},
    )
    assert reply.status_code == 303, reply.text[:300]
    return reply.headers["set-cookie"].lower()


# --- Class 10: sign-up does not tell whether an address has an account ---

BASE = "http://paperfeed.test"


def _answer(reply, echoed: str = "") -> tuple[int, str]:
    """Status and body without the per-browser CSRF values and the form's echoed input."""
    body = re.sub(r'value="[0-9a-f]{20,}"', "", reply.text)
    return reply.status_code, body.replace(echoed, "") if echoed else body


def test_sign_up_answers_alike_for_a_taken_and_a_fresh_address(fresh_db, smtp_server):
    settings = Settings(smtp_url=smtp_server.url, base_url=BASE, mail_from="pf <pf@example.org>")
    with fresh_db.write() as conn:
        create_user(conn, "ada", "ada@example.org", "correct horse")

    def signup(site, username, email):
        return post_form(
            site,
            "/signup",
            {"username": username, "email": email},
            page="/signup",
        )

    with site_in_process(fresh_db, settings=settings) as site:
        taken = signup(site, "newbie", "ADA@Example.org")
        fresh = signup(site, "newbie2", "fresh@example.org")
        assert _answer(taken) == _answer(fresh) and taken.status_code == 200
        assert "Check your inbox" in taken.text and "pf_session" not in site.cookies
        smtp_server.wait_for(2)
        notice = smtp_server.to("ADA@example.org")[0].get_body(("plain",)).get_content()
        assert "already belongs to your account, ada" in notice and "token=" not in notice
        link_mail = smtp_server.to("fresh@example.org")[0].get_body(("plain",)).get_content()
        link = re.search(rf"{re.escape(BASE)}(/signup/confirm\?token=\S+)", link_mail)[1]
        with fresh_db.engine.connect() as conn:  # nothing is opened until the link is used
            assert user_by_name(conn, "newbie") is None and user_by_name(conn, "newbie2") is None
        assert site.get(link).status_code == 200
        token = link.partition("token=")[2]
        short = post_form(site, "/signup/confirm", {"token": token, "password": "x"}, page=link)
        assert short.status_code == 400 and "a password needs" in short.text
        chosen = {"token": token, "password": "another horse"}
        opened = post_form(site, "/signup/confirm", chosen, page=link)
        assert opened.status_code == 303 and 'href="/users/newbie2"' in site.get("/").text
        again = post_form(site, "/signup/confirm", chosen, page=link)
        assert again.status_code == 400 and "already taken" in again.text
        # A taken username is public anyway (user pages): that one is said.
        name_taken = signup(site, "ADA", "someone@example.org")
        assert name_taken.status_code == 400 and "username is already taken" in name_taken.text
        # Log-in and reset already answered alike: the three agree.
        wrong = [
            _answer(post_form(site, "/login", {"login": login, "password": "wrong horse"}), login)
            for login in ("ada@example.org", "nobody@example.org")
        ]
        assert wrong[0] == wrong[1]
        resets = [
            _answer(post_form(site, "/account/reset", {"email": a}, page="/account/reset"))
            for a in ("ada@example.org", "nobody@example.org")
        ]
        assert resets[0] == resets[1]
    with fresh_db.engine.connect() as conn:
        assert user_by_name(conn, "newbie") is None
        assert user_by_email(conn, "fresh@example.org").username == "newbie2"
    with fresh_db.write() as conn:
        assert authenticate(conn, "newbie2", "another horse") is not None
