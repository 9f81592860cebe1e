"""Author claims in a real Chromium (issue 17): a reader claims an author name on a
paper's page, an admin approves it in /admin/claims, and the claim shows on the paper and
the author page; the reader follows the author from that page. No JavaScript needed for
any of it. Screenshots at 1280 and 390 px go to test-artifacts/screenshots/authors-*."""

from __future__ import annotations

import pytest

from paperfeed.services.accounts import create_user
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.jsonl import JsonlSource
from tests.feeds import listing_line, paper
from tests.helpers import ARTIFACTS, live_site

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
PAPERS = [
    paper(1, title="Convolutional networks for documents", authors=["Yann LeCun", "Léon Bottou"]),
    paper(
        2, title="Energy-based models", authors=["Y. LeCun", "Sumit Chopra"], categories=["cs.LG"]
    ),
    paper(3, title="Scaling laws for vision", authors=["Yi Liu", "Yang Liu", "Y. Liu"]),
]


@pytest.fixture
def site(sqlite_db, tmp_path):
    listing = tmp_path / "a.jsonl"
    listing.write_text(
        "\n".join(listing_line(p, f"2026-11-0{n}") for n, p in enumerate(PAPERS, start=1))
    )
    run_ingest(sqlite_db, JsonlSource(listing), show_progress=False)
    with sqlite_db.engine.begin() as conn:
        create_user(conn, "yann", "yann@example.org", "correct horse battery")
        create_user(conn, "admin", "admin@example.org", "correct horse battery", is_admin=True)
    with live_site(sqlite_db) as client:
        yield str(client.base_url).rstrip("/")


def test_a_claim_from_request_to_approval_to_display(chromium, site):
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def browser(who: str):
        context = chromium.new_context(viewport=SIZES["desktop"], java_script_enabled=False)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{site}/login")
        page.get_by_label("Username or email").fill(who)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        return context, page

    def shoot(page, name: str) -> None:
        for size_name, size in SIZES.items():
            page.set_viewport_size(size)
            page.screenshot(path=shots / f"authors-{name}-{size_name}.png", full_page=True)
        page.set_viewport_size(SIZES["desktop"])

    reader_context, reader = browser("yann")
    reader.goto(f"{site}/papers/2611.00001")
    reader.get_by_text("Are you an author of this paper?").click()
    reader.get_by_label("I am").select_option("Yann LeCun")
    reader.get_by_label("Note for the admin").fill("My lab page lists this paper.")
    shoot(reader, "claim-form")
    reader.get_by_role("button", name="Claim").click()
    reader.wait_for_url("**/papers/2611.00001")

    admin_context, admin = browser("admin")
    admin.get_by_role("link", name="Claims").click()
    admin.wait_for_url("**/admin/claims")
    claim = admin.locator(".claim")
    assert claim.count() == 1
    assert "yann claims to be Yann LeCun" in " ".join(claim.inner_text().split())
    assert "My lab page lists this paper." in claim.inner_text()
    shoot(admin, "admin-queue")
    claim.get_by_role("button", name="Approve").click()
    admin.wait_for_url("**/admin/claims")
    assert "No claims are waiting" in admin.locator("main").inner_text()

    reader.reload()
    authors = reader.locator(".paper-page .authors")
    assert "Yann LeCun (yann ✓)" in authors.inner_text()
    shoot(reader, "paper-claimed")
    authors.get_by_role("link", name="Yann LeCun").click()
    reader.wait_for_url("**/authors/Yann%20LeCun")
    main = reader.locator("main")
    assert "claimed by yann" in main.inner_text()
    assert reader.locator("ol.papers > li").count() == 2  # Yann LeCun and Y. LeCun
    reader.get_by_role("button", name="Follow").click()
    reader.wait_for_url("**/authors/Yann%20LeCun")
    assert reader.get_by_role("button", name="Following ✓ (unfollow)").is_visible()
    shoot(reader, "author-page")

    reader.goto(f"{site}/authors/Y.%20Liu")
    assert "This name is ambiguous" in reader.locator("main").inner_text()
    shoot(reader, "ambiguous")
    reader.goto(f"{site}/account/follows")
    reader.get_by_role("button", name="Make my feed address").click()
    assert "/feeds/me/" in reader.locator(".feed-url").input_value()
    shoot(reader, "follows")
    reader_context.close()
    admin_context.close()
    assert problems == []
