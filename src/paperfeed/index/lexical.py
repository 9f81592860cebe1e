"""Keyword search: a tantivy (BM25) index under the data dir, synced from the store.

Chosen by measurement (../shared/MEASURED.md, re-checked in benchmarks/search_speed.py):
at 1M documents tantivy answers any-word queries in ~3 ms where SQLite FTS5 takes ~230 ms
and PostgreSQL tsvector is slower still. The index is a cache: `sync` brings it up to the
store incrementally (papers whose `ingested_at` is at or after the last sync), and deleting
the folder only costs a rebuild.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa
import tantivy

from paperfeed.query import ParsedQuery
from paperfeed.store import Store
from paperfeed.store.schema import papers

# Title > authors > abstract, gently: stronger title boosts cost SciFact nDCG@10
# (measured on SciFact while tuning: keyword nDCG@10 0.578 with title 3, 0.660 equal).
FIELD_BOOSTS = {"title": 1.2, "authors": 1.1, "abstract": 1.0}
SYNC_BATCH = 5_000
SCHEMA_VERSION = 1


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("paper_id", stored=True, indexed=True, fast=True)
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("authors", stored=True, tokenizer_name="default")
    builder.add_text_field("abstract", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("categories", tokenizer_name="raw")
    builder.add_integer_field("day", indexed=True, fast=True)  # yyyymmdd
    return builder.build()


def _day_number(value: date | datetime | None) -> int:
    return int(value.strftime("%Y%m%d")) if value else 0


def _term_query_text(words: list[str]) -> str:
    """A word with inner punctuation (one-step, gpt-4.5) becomes a phrase of its parts;
    everything is lower-cased so that the engine's AND/OR/NOT keywords cannot appear."""
    parts = [p for p in re.split(r"[.\-']", " ".join(words).lower()) if p]
    text = " ".join(parts)
    return f'"{text}"' if len(text.split()) > 1 else text


@dataclass
class KeywordHit:
    paper_id: int
    score: float
    text: str = ""  # title and abstract, filled for the best hit only


class KeywordIndex:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state_file = folder / "state.json"
        folder.mkdir(parents=True, exist_ok=True)
        state = self._read_state()
        if state.get("schema") != SCHEMA_VERSION:
            for child in folder.iterdir():  # an older layout: rebuild from the store
                if child.is_file():
                    child.unlink()
            state = {"schema": SCHEMA_VERSION, "synced_from": None}
            self._write_state(state)
        self.field_boosts = dict(FIELD_BOOSTS)
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(folder))

    def _read_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)

    def pending(self, store: Store) -> int:
        """Papers changed in the store since the last sync."""
        with store.engine.connect() as conn:
            return conn.execute(self._changed_query(sa.func.count(), strict=True)).scalar_one()

    def _changed_query(self, *columns: sa.ColumnElement, strict: bool = False) -> sa.Select:
        """Papers ingested after the last sync started. A sync re-reads the papers of its
        last second too (strict=False): they may have been written after it read them."""
        since = self._read_state().get("synced_from")
        query = sa.select(*columns).select_from(papers)
        if since:
            moment = datetime.fromisoformat(since)
            query = query.where(
                papers.c.ingested_at > moment if strict else papers.c.ingested_at >= moment
            )
        return query

    def sync(self, store: Store) -> Iterator[int]:
        """Index papers changed since the last sync; yields how many after each batch."""
        with store.engine.connect() as conn:
            started = conn.execute(sa.select(sa.func.max(papers.c.ingested_at))).scalar()
            rows = conn.execution_options(yield_per=SYNC_BATCH).execute(
                self._changed_query(
                    papers.c.id,
                    papers.c.title,
                    papers.c.abstract,
                    papers.c.authors,
                    papers.c.categories,
                    papers.c.announced_date,
                    papers.c.published_at,
                )
            )
            writer = self.index.writer(heap_size=128_000_000, num_threads=1)
            done = 0
            for batch in rows.partitions(SYNC_BATCH):
                for row in batch:
                    writer.delete_documents_by_term("paper_id", row.id)
                    writer.add_document(
                        tantivy.Document(
                            paper_id=row.id,
                            title=row.title,
                            abstract=row.abstract,
                            authors=" ; ".join(row.authors),
                            categories=list(row.categories),
                            day=_day_number(row.announced_date or row.published_at),
                        )
                    )
                writer.commit()
                done += len(batch)
                yield done
            writer.commit()
            writer.wait_merging_threads()
        if started is not None:
            self._write_state({"schema": SCHEMA_VERSION, "synced_from": started.isoformat()})
        self.index.reload()

    def _parse(self, clauses: list[str]) -> tantivy.Query:
        return self.index.parse_query(
            " ".join(clauses),
            default_field_names=list(self.field_boosts),
            field_boosts=self.field_boosts,
        )

    def _clauses(self, query: ParsedQuery) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Scored text (words: any; phrases and authors: all), exclusions, filters."""
        clauses = []
        positive = [_term_query_text([w]) for w in query.words]
        positive += [f"+{_term_query_text(p)}" for p in query.phrases]
        positive += [f"+authors:{_term_query_text(a)}" for a in query.authors]
        if positive:
            clauses.append((tantivy.Occur.Must, self._parse(positive)))
        excluded = [_term_query_text([w]) for w in query.excluded_words]
        excluded += [_term_query_text(p) for p in query.excluded_phrases]
        if excluded:
            clauses.append((tantivy.Occur.MustNot, self._parse(excluded)))
        if query.categories:
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.boolean_query(
                        [
                            (
                                tantivy.Occur.Should,
                                tantivy.Query.term_query(self.schema, "categories", c),
                            )
                            for c in query.categories
                        ]
                    ),
                )
            )
        if query.since or query.until:
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.range_query(
                        self.schema,
                        "day",
                        tantivy.FieldType.Integer,
                        _day_number(query.since) if query.since else None,
                        _day_number(query.until) if query.until else None,
                    ),
                )
            )
        return clauses

    def _run(
        self, query: ParsedQuery, limit: int, newest_first: bool
    ) -> tuple[tantivy.Searcher, list, bool]:
        """(searcher, (key, address) hits, scored); scored is False when the query has
        no terms to rank by (filters or exclusions only)."""
        clauses = self._clauses(query)
        if not clauses:
            return self.index.searcher(), [], False
        scored = bool(query.words or query.phrases or query.authors)
        if not any(occur == tantivy.Occur.Must for occur, _ in clauses):
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        searcher = self.index.searcher()
        order = {"order_by_field": "day"} if newest_first and not scored else {}
        result = searcher.search(
            tantivy.Query.boolean_query(clauses), limit=limit, count=False, **order
        )
        return searcher, result.hits, scored

    def search(self, query: ParsedQuery, limit: int = 100) -> list[KeywordHit]:
        """BM25-ranked hits; with filters or exclusions only, the newest papers first."""
        searcher, found, scored = self._run(query, limit, newest_first=True)
        # Ids from the fast field (no stored-document reads); the stored text of the best
        # hit only, for the caller to judge how well it matches.
        addresses = [address for _, address in found]
        ids = searcher.fast_field_values("paper_id", addresses) if addresses else []
        hits = [
            KeywordHit(paper_id, float(key) if scored else 0.0)
            for paper_id, (key, _) in zip(ids, found, strict=True)
        ]
        if hits:
            best = searcher.doc(addresses[0])
            hits[0].text = f"{best['title'][0]} {best['abstract'][0]}"
        return hits

    def count(self, query: ParsedQuery) -> int:
        """How many papers the query matches (no hits are read)."""
        clauses = self._clauses(query)
        if not clauses:
            return 0
        if not any(occur == tantivy.Occur.Must for occur, _ in clauses):
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        result = self.index.searcher().search(tantivy.Query.boolean_query(clauses), limit=1)
        return result.count or 0

    def keep_matching(self, query: ParsedQuery, paper_ids: list[int]) -> set[int]:
        """The subset of `paper_ids` that the query matches."""
        clauses = self._clauses(query)
        if not clauses or not paper_ids:
            return set(paper_ids)
        clauses.append(
            (tantivy.Occur.Must, tantivy.Query.term_set_query(self.schema, "paper_id", paper_ids))
        )
        searcher = self.index.searcher()
        result = searcher.search(
            tantivy.Query.boolean_query(clauses), limit=len(paper_ids), count=False
        )
        addresses = [address for _, address in result.hits]
        return set(searcher.fast_field_values("paper_id", addresses)) if addresses else set()

    def matching_ids(self, query: ParsedQuery) -> np.ndarray:
        """Every paper id the query matches, in no order: a filter for other lists (a
        category can match 100k papers, so no per-hit Python objects)."""
        searcher, found, _ = self._run(query, max(1, self.num_docs()), newest_first=False)
        if not found:
            return np.zeros(0, dtype=np.int64)
        ids = searcher.fast_field_values("paper_id", [address for _, address in found])
        return np.array(ids, dtype=np.int64)

    def num_docs(self) -> int:
        return self.index.searcher().num_docs
