"""Zotero-friendly export and import, on both engines: a collection out as RIS (read back
by rispy) and CSL-JSON (checked against a CSL-JSON schema subset written for these
tests) and into a new account; a Zotero-style BibTeX export of real papers; hostile
files refused with a clear message, a bad entry reported with its place."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from pathlib import Path

import bibtexparser
import jsonschema
import pytest
import rispy

from paperfeed.config import Settings
from paperfeed.services import collections
from paperfeed.services.accounts import create_user
from paperfeed.services.ingest import run_ingest
from paperfeed.services.references import MAX_BRACE_DEPTH, ImportRefused, parse_references
from paperfeed.sources.jsonl import JsonlSource
from paperfeed.store import Store
from paperfeed.store.schema import papers
from tests.feeds import listing_line, paper
from tests.forms import new_reader, session_client
from tests.helpers import UNCACHED, site_in_process

SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "csl-data-subset.schema.json").read_text()
)
INVENTED = [
    paper(1, title="Sparse attention with $O(n \\log n)$ cost & {braces}"),
    paper(2, title="Réseaux de neurones: une étude", authors=["Émile Zoë Çelik", "Plato"]),
    paper(3, title="Reward models for reasoning"),
    paper(4, title="Tactile grasping", authors=["Ada Lovelace"]),
    paper(5, title="Speech recognition with tiny transducers"),
]
JOURNAL_DOI = "10.1234/JOURNAL.2026.003"


@pytest.fixture(scope="module")
def site(module_db_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("import-export")
    listing = folder / "listing.jsonl"
    listing.write_text("\n".join(listing_line(p, "2026-11-03") for p in INVENTED))
    with Store(module_db_url) as store:
        run_ingest(store, JsonlSource(listing), show_progress=False)
        with store.write() as conn:  # a journal DOI, as arXiv's own metadata carries them
            conn.execute(
                papers.update().where(papers.c.arxiv_id == "2611.00003").values(doi=JOURNAL_DOI)
            )
        settings = Settings(import_max_bytes=200_000, page_cache_s=0)
        with site_in_process(store, settings=settings) as client:
            yield store, client


def reader(site):
    """A new signed-in reader: (client, csrf token, user id)."""
    return new_reader(*site)


def upload(client, csrf, content: bytes | str, filename: str = "refs.bib", **fields):
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        "/import",
        data={"csrf_token": csrf, **fields},
        files={"file": (filename, data, "application/octet-stream")},
        headers={"Accept": "application/json"},
    )


def collection_papers(client, collection_id: int) -> set[str]:
    found = client.get(f"/collections/{collection_id}.json").json()["papers"]
    return {p["arxiv_id"] for p in found}


def test_a_collection_round_trips_through_ris_and_csl_json_into_a_new_account(site):
    store, _ = site
    owner, _, owner_id = reader(site)
    ids = [p["arxiv_id"] for p in INVENTED]
    with store.write() as conn:
        shelf = collections.create_collection(conn, owner_id, "To cite")
        for arxiv_id in ids:
            collections.add_paper(conn, shelf, owner_id, arxiv_id)
    ris_text = owner.get(f"/collections/{shelf}.ris")
    assert ris_text.headers["content-type"].startswith("application/x-research-info-systems")
    records = rispy.loads(ris_text.text)
    assert len(records) == 5
    by_url = {r["urls"][0]: r for r in records}
    second = by_url["https://arxiv.org/abs/2611.00002"]
    assert second["title"] == "Réseaux de neurones: une étude"
    assert second["authors"] == ["Çelik, Émile Zoë", "Plato"]
    assert by_url["https://arxiv.org/abs/2611.00003"]["doi"] == "10.1234/JOURNAL.2026.003"
    csl = owner.get(f"/collections/{shelf}.csl.json")
    assert csl.headers["content-type"].startswith("application/vnd.citationstyles.csl+json")
    items = csl.json()
    jsonschema.validate(items, SCHEMA)
    assert {i["number"] for i in items} == {f"arXiv:{i}" for i in ids}
    assert len({i["id"] for i in items}) == 5
    # The schema subset is strict: a wrong shape fails it.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{**items[0], "author": "Plato"}], SCHEMA)

    for content, name in ((ris_text.text, "export.ris"), (csl.text, "export.json")):
        newcomer, csrf, _ = reader(site)
        report = upload(newcomer, csrf, content, name)
        assert report.status_code == 200, report.text
        body = report.json()
        assert sorted(body["added"]) == sorted(ids)
        assert body["not_found"] == [] and body["refused"] == []
        assert body["format"] == ("ris" if name.endswith(".ris") else "csl-json")
        assert collection_papers(newcomer, body["collection_id"]) == set(ids)


def test_the_library_exports_in_the_three_formats(site):
    client, csrf, _ = reader(site)
    for arxiv_id in ("2611.00001", "2611.00004"):
        client.post(f"/papers/{arxiv_id}/reading", data={"csrf_token": csrf, "state": "later"})
    bib = client.get("/library.bib")
    assert bib.headers["content-disposition"] == 'attachment; filename="library.bib"'
    entries = bibtexparser.parse_string(bib.text).entries
    assert {e["eprint"] for e in entries} == {"2611.00001", "2611.00004"}
    assert len(rispy.loads(client.get("/library.ris").text)) == 2
    jsonschema.validate(client.get("/library.csl.json").json(), SCHEMA)
    # Private: a collection of someone else's is not exported to anyone else.
    other, _, _ = reader(site)
    own = upload(client, csrf, client.get("/library.ris").text, "mine.ris").json()
    assert other.get(f"/collections/{own['collection_id']}.ris").status_code == 404
    assert other.get(f"/collections/{own['collection_id']}.csl.json").status_code == 404


def test_doi_and_title_recognize_papers_and_an_existing_collection_takes_them(site):
    client, csrf, _ = reader(site)
    made = upload(client, csrf, "@misc{a, title={x}, eprint={2611.00005}}").json()
    bib = """
@article{lovelace2026,
  title = {{T}actile  {G}rasping},
  journal = {Journal of Hands},
  year = 2026,
}
@article{someone2026,
  title = "Reward models " # "for a journal",
  doi = {10.1234/journal.2026.003},
}
@article{r\\'eseaux,
  title = {R{\\'e}seaux de neurones: une {\\'e}tude},
}
"""
    report = upload(client, csrf, bib, collection=str(made["collection_id"])).json()
    assert report["collection_id"] == made["collection_id"]
    assert report["added"] == ["2611.00004", "2611.00003", "2611.00002"]
    assert collection_papers(client, made["collection_id"]) == {
        "2611.00002", "2611.00003", "2611.00004", "2611.00005",
    }  # fmt: skip
    again = upload(client, csrf, bib, collection=str(made["collection_id"])).json()
    assert again["added"] == [] and len(again["already_there"]) == 3
    # Someone else's collection is not a target.
    other, other_csrf, _ = reader(site)
    assert upload(other, other_csrf, bib, collection=str(made["collection_id"])).status_code == 404


def _zotero_bibtex(real: list[dict]) -> str:
    """A library as Zotero and Better BibTeX export it: 30 arXiv papers written five ways
    (Zotero's @misc with URL, DOI and note; Better BibTeX's eprint fields; an arXiv DOI
    only; a PDF link; a title only, brace-protected as BibTeX styles want), then 20
    references that are not on arXiv (invented)."""
    entries = ["@comment{jabref-meta: databaseType:bibtex;}"]
    for n, p in enumerate(real):
        arxiv_id, title = p["arxiv_id"], p["title"]
        authors = " and ".join(
            f"{a.split()[-1]}, {' '.join(a.split()[:-1])}" for a in p["authors"][:5]
        )
        braced = " ".join(f"{{{w}}}" if w[:1].isupper() else w for w in title.split())
        braced = braced.replace("&", "\\&").replace("%", "\\%")
        year = f"20{arxiv_id[:2]}"
        key = f"{re.sub(r'[^a-z]', '', p['authors'][0].split()[-1].lower())}_{n}_{year}"
        style = n % 5
        if style == 0:
            entries.append(
                f"@misc{{{key},\n\ttitle = {{{braced}}},\n\turl = {{http://arxiv.org/abs/{arxiv_id}}},"
                f"\n\tdoi = {{10.48550/arXiv.{arxiv_id}}},\n\turldate = {{2026-11-20}},"
                f"\n\tpublisher = {{arXiv}},\n\tauthor = {{{authors}}},\n\tmonth = mar,"
                f"\n\tyear = {{{year}}},\n\tnote = {{arXiv:{arxiv_id} [cs]}},"
                f"\n\tkeywords = {{Computer Science - Machine Learning}},\n}}"
            )
        elif style == 1:
            entries.append(
                f"@online{{{key},\n  title = {{{{{title.replace('&', chr(92) + '&')}}}}},"
                f"\n  author = {{{authors}}},\n  date = {{{year}-03-18}},"
                f"\n  eprint = {{{arxiv_id}v2}},\n  eprinttype = {{arXiv}},"
                f"\n  eprintclass = {{{p['primary_category']}}},\n}}"
            )
        elif style == 2:
            entries.append(
                f"@article{{{key},\n  title = {{{braced}}},\n  journal = {{arXiv preprint}},"
                f"\n  author = {{{authors}}},\n  year = {{{year}}},"
                f"\n  doi = {{10.48550/ARXIV.{arxiv_id}}}\n}}"
            )
        elif style == 3:
            entries.append(
                f"@misc{{{key},\n  title = {{{braced}}},\n  author = {{{authors}}},"
                f"\n  howpublished = {{\\url{{https://arxiv.org/pdf/{arxiv_id}v1}}}},"
                f"\n  year = {year}\n}}"
            )
        else:
            entries.append(
                f"@inproceedings{{{key},\n\ttitle = {{{braced}}},"
                f"\n\tbooktitle = {{Proceedings of an invented workshop}},"
                f"\n\tauthor = {{{authors}}},\n\tpages = {{1--12}},\n\tyear = {{{year}}},\n}}"
            )
    for n in range(20):
        kind = ("article", "book", "inproceedings", "misc")[n % 4]
        extra = {
            "article": f"journal = {{Journal of Invented Results}},\n\tdoi = {{10.9999/jir.{n}}}",
            "book": "publisher = {Invented Press}",
            "inproceedings": "booktitle = {Proceedings of the Invented Conference}",
            "misc": f"url = {{https://example.org/reports/{n}}}",
        }[kind]
        entries.append(
            f'@{kind}{{invented_{n},\n\ttitle = {{An invented {kind} number {n} on {{M\\"o}}bius '
            f'strips}},\n\tauthor = {{Doe, Jane and M{{\\"u}}ller, Hans}},\n\t{extra},'
            f"\n\tyear = {{2019}},\n}}"
        )
    return "\n\n".join(entries) + "\n"


def test_a_zotero_bibtex_export_of_50_imports_the_30_arxiv_papers(shared_data, db_url, tmp_path):
    with gzip.open(shared_data / "arxiv-cs-daily" / "arxiv_cs_daily.jsonl.gz", "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 300)]
    (tmp_path / "slice.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    # Thirty of them, with plain titles (the title-only style compares titles).
    real = [r for r in records if "$" not in r["title"] and "{" not in r["title"]][:30]
    text = _zotero_bibtex(real)
    parsed = bibtexparser.parse_string(text)  # a real BibTeX parser reads it all
    assert len(parsed.entries) == 50 and not parsed.failed_blocks
    with Store(db_url) as store:
        run_ingest(store, JsonlSource(tmp_path / "slice.jsonl"), show_progress=False)
        with store.write() as conn:
            user = create_user(conn, "zotero", "zotero@example.org", "correct horse")
        with site_in_process(store, settings=UNCACHED) as anon:
            client, csrf = session_client(store, anon, user.id)
            report = upload(client, csrf, text, "My Library.bib").json()
            assert sorted(report["added"]) == sorted(r["arxiv_id"] for r in real)
            assert len(report["not_found"]) == 20 and report["refused"] == []
            first = report["not_found"][0]
            line = text[: text.index("@article{invented_0")].count("\n") + 1
            assert first["place"] == f"entry 31 (line {line}, key invented_0)", first
            assert first["entry"] == "An invented article number 0 on Mobius strips"
            html = upload(client, csrf, text, "My Library.bib", format="bibtex")
            assert html.json()["already_there"] == [] and len(html.json()["added"]) == 30
            page = client.post(
                "/import",
                data={"csrf_token": csrf},
                files={"file": ("My Library.bib", text.encode(), "text/plain")},
            ).text
            assert "Imported 30 papers into" in page and "Not found here (20)" in page
            assert "entry 50 (line " in page and "key invented_19): An invented misc" in page


HOSTILE_FILES = [
    (b"@misc{a, title={x}}\x00", "NUL"),
    ("@misc{a, title={Caf\u00e9}}".encode("latin-1"), "not UTF-8"),
    (b"Dear reviewer, thanks.", "not a BibTeX, RIS or CSL-JSON file"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'[{"title": "x"', "not valid JSON"),
    ("\ufeffTY  - GEN\nER  - \n".encode(), "none of the 1 entries is a paper known here"),
    (b"@misc{x, title={x}, eprint={9999.99999}}", "none of the 1 entries is a paper known here"),
    (b"  \n", "not a BibTeX"),
]


@pytest.fixture(scope="module")
def one_reader(site):
    """A reader the refusal tests share (each account costs a password hash)."""
    return reader(site)


@pytest.mark.parametrize(("content", "said"), HOSTILE_FILES)
def test_a_hostile_file_is_refused_with_a_clear_message(one_reader, content, said):
    client, csrf, _ = one_reader
    refused = upload(client, csrf, content)
    assert refused.status_code == 400 and said in refused.json()["error"], refused.text
    page = client.post(
        "/import", data={"csrf_token": csrf}, files={"file": ("x.bib", content, "text/plain")}
    )
    assert page.status_code == 400 and 'class="error"' in page.text


def test_bad_entries_are_reported_with_their_place_and_the_rest_go_in(one_reader):
    client, csrf, _ = one_reader
    deep = "{" * (MAX_BRACE_DEPTH + 1) + "x" + "}" * (MAX_BRACE_DEPTH + 1)
    bib = (
        "@misc{good1, eprint = {2611.00001}}\n"
        f"@misc{{deep, title = {deep}, eprint = {{2611.00002}}}}\n"
        "@misc{inject, title = {\\input{/etc/passwd}}, eprint = {2611.00003}}\n"
        "@misc{shell, note = {\\immediate\\write18{rm -rf ~}}, eprint = {2611.00003}}\n"
        "@misc{open, title = {never closed, eprint = {2611.00003}\n"
        "@misc{good2, title = {T\\'{e}st \\emph{ok}}, url = {https://arxiv.org/abs/2611.00004v3}}\n"
        "@misc{long, title = {" + "x" * 25_000 + "}}\n"
    )
    report = upload(client, csrf, bib).json()
    assert report["added"] == ["2611.00001", "2611.00004"]
    refused = {place: why for place, why in ((r["place"], r["reason"]) for r in report["refused"])}
    assert refused == {
        "entry 2 (line 2)": f"braces nested deeper than {MAX_BRACE_DEPTH}",
        "entry 3 (line 3, key inject)": "title: the LaTeX command \\input is not accepted",
        "entry 4 (line 4, key shell)": "note: the LaTeX command \\immediate is not accepted",
        "entry 5 (line 5)": "the entry is never closed",
        "entry 7 (line 7, key long)": "title is longer than 20,000 characters",
    }
    ris = (
        "TY  - GEN\nTI  - ok\nUR  - https://arxiv.org/abs/2611.00005\nER  - \n"
        "TY  - GEN\nTI  - no end\n"
        "TY  - GEN\nAN  - arXiv:2611.00001\nER  - \n"
    )
    report = upload(client, csrf, ris, "x.ris").json()
    assert report["added"] == ["2611.00005", "2611.00001"]
    assert report["refused"] == [
        {"place": "record 2 (line 5)", "reason": "the record has no ER line"}
    ]
    csl = json.dumps(
        [{"id": "a", "URL": "https://arxiv.org/abs/2611.00002"}, {"id": "b", "title": ["x"]}, 7]
    )
    report = upload(client, csrf, csl, "x.json").json()
    assert report["added"] == ["2611.00002"]
    assert report["refused"] == [
        {"place": "item 2 (id b)", "reason": "title is not text"},
        {"place": "item 3", "reason": "not an object"},
    ]


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(one_reader):
    client, csrf, _ = one_reader
    big = "@misc{a, eprint={2611.00001}}\n" + "% padding\n" * 30_000
    refused = upload(client, csrf, big)
    assert refused.status_code == 413 and "larger than" in refused.json()["error"]
    # Just under the form's allowance but over the file's: refused by the route.
    over = "@misc{a, eprint={2611.00001}}\n" + "%" * 200_100
    assert upload(client, csrf, over).status_code == 413


def test_pathological_inputs_finish():
    """Inputs that would make a naive parser recurse or rescan the file for each entry."""
    for text in (
        "@misc{" * 50_000,
        "@misc{x, title = " + "{" * 100_000,
        '@misc{x, title = "' + "a" * 100_000,
        "\n@misc{x," * 9_000,
        "TY  - GEN\n" * 9_000,
    ):
        try:
            parsed = parse_references(text.encode())
        except ImportRefused:
            continue
        assert not parsed.references and parsed.refused
    with pytest.raises(ImportRefused, match="more than 10,000 entries"):
        parse_references(("@misc{a, title={x}}\n" * 10_001).encode())


def test_the_cli_imports_and_exports(db_url, tmp_path, run_cli):
    listing = tmp_path / "listing.jsonl"
    listing.write_text("\n".join(listing_line(p, "2026-11-03") for p in INVENTED))
    with Store(db_url) as store:
        run_ingest(store, JsonlSource(listing), show_progress=False)
        with store.write() as conn:
            create_user(conn, "cli-reader", "cli@example.org", "correct horse")
    refs = tmp_path / "refs.bib"
    refs.write_text(
        "@misc{a, eprint={2611.00001}}\n@misc{b, title={Tactile grasping}}\n"
        "@book{c, title={A book not on arXiv \x1b[2J}}\n@misc{d, title={\\input{x}}}\n"
    )
    done = run_cli("library", "import", "cli-reader", str(refs), "--name", "From Zotero")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("added 2 papers to collection ")
    assert lines[1] == "not found: entry 3 (line 3, key c): A book not on arXiv \\x1b[2J"
    assert (
        lines[2]
        == "refused: entry 4 (line 4, key d): title: the LaTeX command \\input is not accepted"
    )
    collection = lines[0].split()[5]
    exported = run_cli(
        "library", "export", "cli-reader", "--format", "ris", "--collection", collection
    )
    assert {r["urls"][0] for r in rispy.loads(exported.output)} == {
        "https://arxiv.org/abs/2611.00001", "https://arxiv.org/abs/2611.00004",
    }  # fmt: skip
    assert run_cli("library", "export", "nobody").exit_code == 1
    (tmp_path / "big.bib").write_bytes(b"%" * 5_000_001)
    too_big = run_cli("library", "import", "cli-reader", str(tmp_path / "big.bib"))
    assert too_big.exit_code == 1 and "larger than 5,000,000 bytes" in too_big.output
