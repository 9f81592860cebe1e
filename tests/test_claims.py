"""Author claims (issue 17, item 3): a reader claims an author name on a paper, an admin
approves or rejects it in /admin/claims, approved claims show on paper and author pages
and merge the claimant's name variants; a rejected claim is made again with a note.
Authorization and CSRF; both engines."""

from urllib.parse import quote

import pytest

from paperfeed.services.accounts import create_user
from paperfeed.services.ingest import run_ingest
from paperfeed.sources.jsonl import JsonlSource
from tests.feeds import listing_line, paper
from tests.forms import sent_to_log_in, session_client
from tests.helpers import site_in_process

PAPERS = [
    ("Convolutional networks", ["Yann LeCun", "Léon Bottou"]),
    ("Energy-based models", ["Y. LeCun", "Sumit Chopra"]),
    ("A paper that splits the name", ["Yann Le Cun", "Yoshua Bengio"]),  # another key
]
JSON = {"Accept": "application/json"}


@pytest.fixture
def site(fresh_db, tmp_path):
    path = tmp_path / "claims.jsonl"
    path.write_text(
        "\n".join(
            listing_line(paper(n, title=t, abstract=t, authors=a), f"2026-10-{10 + n}")
            for n, (t, a) in enumerate(PAPERS, start=1)
        )
    )
    run_ingest(fresh_db, JsonlSource(path), show_progress=False)
    with fresh_db.engine.begin() as conn:
        yann = create_user(conn, "yann", "yann@example.org", "correct horse")
        other = create_user(conn, "other", "other@example.org", "correct horse")
        admin = create_user(conn, "admin", "admin@example.org", "correct horse", is_admin=True)
    with site_in_process(fresh_db) as anon:
        clients = {
            name: session_client(fresh_db, anon, user.id)
            for name, user in [("yann", yann), ("other", other), ("admin", admin)]
        }

        def act(who, path, **data):
            client, csrf = clients[who]
            return client.post(path, data={"csrf_token": csrf, **data}, headers=JSON)

        yield anon, clients, act


def test_claim_request_approval_display_and_merged_variants(site):
    anon, clients, act = site
    for arxiv_id, name in [("2611.00001", "Yann LeCun"), ("2611.00003", "Yann Le Cun")]:
        reply = act("yann", f"/papers/{arxiv_id}/claim", author=name)
        assert reply.status_code == 200 and reply.json()["status"] == "pending"
    # Nothing shows before an admin decides.
    assert "claimed_by" in anon.get("/papers/2611.00001.json").json()
    assert anon.get("/papers/2611.00001.json").json()["claimed_by"] == {}
    queue = clients["admin"][0].get("/admin/claims.json").json()["claims"]
    assert [(c["username"], c["author_name"]) for c in queue] == [
        ("yann", "Yann LeCun"),
        ("yann", "Yann Le Cun"),
    ]
    assert "Yann Le Cun" in clients["admin"][0].get("/admin/claims").text
    before = anon.get(f"/authors/{quote('Yann LeCun')}.json").json()
    assert before["total_papers"] == 2  # Yann LeCun and Y. LeCun; "Le Cun" is another key
    for c in queue:
        assert act("admin", f"/admin/claims/{c['id']}/approve").json()["status"] == "approved"
    assert clients["admin"][0].get("/admin/claims.json").json()["claims"] == []
    assert anon.get("/papers/2611.00001.json").json()["claimed_by"] == {"Yann LeCun": "yann"}
    paper_page = anon.get("/papers/2611.00001").text
    assert 'href="/users/yann">yann</a> ✓' in paper_page
    after = anon.get(f"/authors/{quote('Yann LeCun')}.json").json()
    assert after["claimed_by"] == ["yann"]
    # The claimant's variants merge: the "Le Cun" paper joins the page.
    assert after["total_papers"] == 3
    assert "2611.00003" in [p["arxiv_id"] for p in after["papers"]]
    assert "claimed by" in anon.get(f"/authors/{quote('Y. LeCun')}").text
    # Approved: nobody else can claim the name on that paper, nor can yann again.
    assert act("other", "/papers/2611.00001/claim", author="Yann LeCun").status_code == 409
    assert act("yann", "/papers/2611.00001/claim", author="Yann LeCun").status_code == 409
    assert act("admin", f"/admin/claims/{queue[0]['id']}/reject").status_code == 409


def test_a_rejected_claim_is_made_again_with_a_note(site):
    _, clients, act = site
    first = act("other", "/papers/2611.00002/claim", author="Y. LeCun").json()["claim"]
    assert act("other", "/papers/2611.00002/claim", author="Y. LeCun").status_code == 409
    assert act("admin", f"/admin/claims/{first}/reject").json()["status"] == "rejected"
    again = act("other", "/papers/2611.00002/claim", author="Y. LeCun")
    assert again.status_code == 400 and "note" in again.json()["error"]
    note = "I am Yves LeCun; see my page at the lab."
    again = act("other", "/papers/2611.00002/claim", author="Y. LeCun", note=note)
    assert again.status_code == 200
    (waiting,) = clients["admin"][0].get("/admin/claims.json").json()["claims"]
    assert waiting["note"] == note and waiting["status"] == "pending"
    mine = clients["other"][0].get("/account/follows", headers=JSON).json()["claims"]
    assert [c["status"] for c in mine] == ["pending", "rejected"]


def test_claims_need_a_session_csrf_and_an_admin(site):
    anon, clients, act = site
    claim = act("yann", "/papers/2611.00001/claim", author="Yann LeCun").json()["claim"]
    # Not an admin: no queue, no decision.
    assert clients["yann"][0].get("/admin/claims").status_code == 403
    assert clients["yann"][0].get("/admin/claims.json").status_code == 403
    assert act("yann", f"/admin/claims/{claim}/approve").status_code == 403
    assert sent_to_log_in(anon.get("/admin/claims"), "/admin/claims")
    # No CSRF token, or signed out.
    admin, _ = clients["admin"]
    assert admin.post(f"/admin/claims/{claim}/approve", headers=JSON).status_code == 403
    assert anon.post("/papers/2611.00001/claim", data={"author": "Yann LeCun"}).status_code == 403
    # Hostile or wrong values: 4xx, never 500.
    for arxiv_id, author, note in [
        ("2611.00001", "Somebody Else", ""),
        ("2611.09999", "Yann LeCun", ""),
        ("not-an-id", "Yann LeCun", ""),
        ("2611.00001", "Léon Bottou", "x" * 1001),
        ("2611.00001", "Léon Bottou", "bad\x00note"),
        ("2611.00001", "<script>", ""),
    ]:
        reply = act("yann", f"/papers/{arxiv_id}/claim", author=author, note=note)
        assert reply.status_code in (400, 404), (arxiv_id, author, reply.status_code)
    for path in ["/admin/claims/99999/approve", "/admin/claims/0/approve", "/admin/claims/1/x"]:
        assert act("admin", path).status_code in (400, 404), path
    assert act("admin", f"/admin/claims/{claim}/approve").status_code == 200
