"""Fixture documents in the formats paperfeed reads, written for these tests: arXiv Atom
API pages, OAI-PMH ListRecords pages (arXiv and arXivRaw), Hugging Face daily_papers
answers. Values are invented; only the shapes follow the real services."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape


def paper(n: int, **overrides: object) -> dict:
    """An invented paper numbered n: id 2611.0NNNN."""
    base = {
        "arxiv_id": f"2611.{n:05d}",
        "version": 1,
        "title": f"Invented paper number {n} on sparse attention",
        "abstract": f"We study problem {n}. Our method improves the baseline by {n % 7} points.",
        "authors": [f"Ada Example{n}", "Bo Sample"],
        "categories": ["cs.CL", "cs.LG"],
        "published": "2026-11-02T10:00:00Z",
        "updated": "2026-11-02T10:00:00Z",
        "comment": None,
        "doi": None,
        "journal_ref": None,
    }
    base.update(overrides)
    return base


def atom_entry(p: dict) -> str:
    authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in p["authors"])
    cats = "".join(
        f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in p["categories"]
    )
    extra = ""
    if p.get("comment"):
        extra += f"<arxiv:comment>{escape(p['comment'])}</arxiv:comment>"
    if p.get("doi"):
        extra += f"<arxiv:doi>{escape(p['doi'])}</arxiv:doi>"
    if p.get("journal_ref"):
        extra += f"<arxiv:journal_ref>{escape(p['journal_ref'])}</arxiv:journal_ref>"
    version = p.get("version")
    return f"""
  <entry>
    <id>http://arxiv.org/abs/{p["arxiv_id"]}{f"v{version}" if version else ""}</id>
    <updated>{p["updated"]}</updated>
    <published>{p["published"]}</published>
    <title>{escape(p["title"])}</title>
    <summary>  {escape(p["abstract"])}
    </summary>
    {authors}
    {extra}
    <link href="http://arxiv.org/abs/{p["arxiv_id"]}v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{p["arxiv_id"]}v1" rel="related" type="application/pdf"/>
    <arxiv:primary_category term="{p["categories"][0]}" scheme="http://arxiv.org/schemas/atom"/>
    {cats}
  </entry>"""


def atom_feed(papers: list[dict], total: int, start: int = 0) -> str:
    entries = "".join(atom_entry(p) for p in papers)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <link href="http://arxiv.org/api/query" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: invented</title>
  <id>http://arxiv.org/api/invented</id>
  <updated>2026-11-26T00:00:00-05:00</updated>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>{start}</opensearch:startIndex>
  <opensearch:itemsPerPage>{len(papers)}</opensearch:itemsPerPage>{entries}
</feed>"""


def atom_error(message: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
  <opensearch:totalResults>1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/api/errors#invalid_query</id>
    <title>Error</title>
    <summary>{escape(message)}</summary>
  </entry>
</feed>"""


def _oai_envelope(inner: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <responseDate>2026-11-26T08:00:00Z</responseDate>
  <request verb="ListRecords">http://oai.invented/oai</request>
  {inner}
</OAI-PMH>"""


def oai_arxiv_metadata(p: dict) -> str:
    authors = ""
    for name in p["authors"]:
        forenames, _, keyname = name.rpartition(" ")
        authors += (
            f"<author><keyname>{escape(keyname)}</keyname>"
            f"<forenames>{escape(forenames)}</forenames></author>"
        )
    return f"""<arXiv xmlns="http://arxiv.org/OAI/arXiv/">
      <id>{p["arxiv_id"]}</id><created>{p["published"][:10]}</created><updated>{p["updated"][:10]}</updated>
      <authors>{authors}</authors>
      <title>{escape(p["title"])}</title>
      <categories>{" ".join(p["categories"])}</categories>
      <license>http://creativecommons.org/licenses/by/4.0/</license>
      <abstract>{escape(p["abstract"])}</abstract>
    </arXiv>"""


def oai_raw_metadata(p: dict, version_dates: list[str]) -> str:
    versions = "".join(
        f'<version version="v{i}"><date>{d}</date><size>100kb</size></version>'
        for i, d in enumerate(version_dates, start=1)
    )
    authors = escape(
        ", ".join(p["authors"][:-1]) + " and " + p["authors"][-1]
        if len(p["authors"]) > 1
        else p["authors"][0]
    )
    return f"""<arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/">
      <id>{p["arxiv_id"]}</id><submitter>{escape(p["authors"][0])}</submitter>
      {versions}
      <title>{escape(p["title"])}</title>
      <authors>{authors}</authors>
      <categories>{" ".join(p["categories"])}</categories>
      <comments>12 pages</comments>
      <license>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</license>
      <abstract>{escape(p["abstract"])}</abstract>
    </arXivRaw>"""


def oai_page(
    metadata: list[tuple[str, str]],
    token: str | None = None,
    size: int = 0,
    cursor: int = 0,
    deleted: list[str] = (),
    datestamps: dict[str, str] | None = None,
) -> str:
    """metadata: (arxiv id, metadata XML) pairs; datestamps by id (default 2026-11-03)."""
    stamps = datestamps or {}
    records = "".join(
        f"""<record><header><identifier>oai:arXiv.org:{aid}</identifier>
        <datestamp>{stamps.get(aid, "2026-11-03")}</datestamp><setSpec>cs</setSpec></header>
        <metadata>{meta}</metadata></record>"""
        for aid, meta in metadata
    )
    records += "".join(
        f"""<record><header status="deleted"><identifier>oai:arXiv.org:{aid}</identifier>
        <datestamp>2026-11-03</datestamp></header></record>"""
        for aid in deleted
    )
    token_xml = ""
    if token is not None:
        token_xml = (
            f'<resumptionToken cursor="{cursor}" completeListSize="{size}">'
            f"{token}</resumptionToken>"
        )
    return _oai_envelope(f"<ListRecords>{records}{token_xml}</ListRecords>")


def oai_error(code: str, message: str) -> str:
    return _oai_envelope(f'<error code="{code}">{escape(message)}</error>')


def hf_api_entry(
    p: dict,
    upvotes: int = 3,
    comments: int = 1,
    submitter: str | None = "alice",
    github: str | None = None,
    day: str = "2026-11-03",
) -> dict:
    """One element of /api/daily_papers, in the nested shape the live API returns."""
    paper_obj = {
        "id": p["arxiv_id"],
        "authors": [
            {"_id": f"x{i}", "name": a, "hidden": False} for i, a in enumerate(p["authors"])
        ],
        "publishedAt": p["published"].replace("Z", ".000Z"),
        "submittedOnDailyAt": f"{day}T05:12:00.000Z",
        "title": p["title"],
        "summary": p["abstract"],
        "upvotes": upvotes,
        "discussionId": "d" + p["arxiv_id"],
    }
    if submitter:
        paper_obj["submittedOnDailyBy"] = {
            "_id": "u1",
            "fullname": submitter.title(),
            "user": submitter,
            "type": "user",
        }
    if github:
        paper_obj["githubRepo"] = github
        paper_obj["githubStars"] = 42
    return {
        "paper": paper_obj,
        "publishedAt": f"{day}T05:12:00.000Z",
        "title": p["title"],
        "summary": p["abstract"],
        "numComments": comments,
        "submittedBy": paper_obj.get("submittedOnDailyBy"),
        "isAuthorParticipating": False,
    }


def hf_flat_line(p: dict, day: str, upvotes: int = 5, submitter: str | None = "bob") -> str:
    """One line of the flat export layout (../shared/data/hf-daily-papers)."""
    return json.dumps(
        {
            "daily_date": day,
            "arxiv_id": p["arxiv_id"],
            "title": p["title"],
            "abstract": p["abstract"],
            "authors": p["authors"],
            "paper_published_at": p["published"],
            "submitted_on_daily_at": f"{day}T06:00:00Z",
            "upvotes": upvotes,
            "num_comments": 2,
            "submitted_by": submitter,
            "organization": None,
            "github_repo": None,
            "github_stars": None,
            "project_page": None,
        }
    )


def listing_line(p: dict, listing_date: str = "2026-11-03") -> str:
    """One line of the daily-listing JSON Lines layout (../shared/data/arxiv-cs-daily)."""
    return json.dumps(
        {
            "arxiv_id": p["arxiv_id"],
            "title": p["title"],
            "abstract": p["abstract"],
            "authors": p["authors"],
            "categories": p["categories"],
            "primary_category": p["categories"][0],
            "comment": p.get("comment"),
            "listing_date": listing_date,
        }
    )
