"""Keyword search: a tantivy (BM25) index under the data dir, synced from the store.

Chosen by measurement (../shared/MEASURED.md, re-checked in benchmarks/search_speed.py):
at 1M documents tantivy answers any-word queries in ~3 ms where SQLite FTS5 takes ~230 ms
and PostgreSQL tsvector is slower still. The index is a cache: `sync` brings it up to the
store incrementally (papers whose `ingested_at` is at or after the last sync), and deleting
the folder only costs a rebuild.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa
import tantivy

from paperfeed.authors import parse_name
from paperfeed.query import STOPWORDS, ParsedQuery
from paperfeed.records import day_number, paper_day
from paperfeed.store import Store
from paperfeed.store.schema import papers

# Ranking, measured in benchmarks/search_quality.py against a textbook BM25 (title and
# abstract as one field, no stemming): title and abstract are scored as one text, not
# field by field and summed (summed, one word in a short title outweighed a whole phrase
# in an abstract). Each word is scored twice, stemmed (transformers finds transformer)
# and, at a lower weight, as typed (technical terms that stemming conflates: generative /
# generation). Query words found next to each other, as typed, earn a bonus
# (ADJACENT_BOOST, shared by the query's pairs of content words, not STOPWORDS: "of the"
# is in every abstract) without being required.
ADJACENT_BOOST = 1.2
# Where a query word is scored, and with what weight. Not in author lists: a word that
# names an author is found by names_in and ranked by services/search.py; "long" or "deep"
# in an author's name says nothing about a paper on long contexts or deep networks.
WORD_FIELDS = {"text": 1.0, "text_exact": 0.4}
SYNC_BATCH = 5_000
# Names are looked for in runs of at most this many query words (a given name, a middle
# name or initial, a surname).
NAME_WORDS = 3
# A paper with an author named exactly as asked (feng li) ranks above one that only has
# the words in a longer name (yu-feng li): a constant score, above any BM25 score of a
# name (BM25 of a term in a 200-author list is tiny), added to the rest of the query's.
EXACT_NAME_SCORE = 100.0
# "Did you mean": the most common words of the vocabulary sharing a misspelled word's
# first two letters, among which the correction is looked for.
SUGGEST_TERMS = 3_000
# 4: authors one value each (no phrase across two), author_names; 5: author_keys;
# 6: text_pairs
SCHEMA_VERSION = 6
# tantivy's default tokenizer (text_exact): runs of letters and digits, lower-cased, a
# token longer than 40 bytes dropped. text_pairs is written from the same reading.
_TOKEN = re.compile(r"[^\W_]+")
MAX_TOKEN_BYTES = 40


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("paper_id", stored=True, indexed=True, fast=True)
    # Title and abstract, stemmed (words, quoted phrases) and as typed (words, the bonus
    # for adjacent words).
    builder.add_text_field("text", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("text_exact", tokenizer_name="default")
    # Each two adjacent words of text_exact as one term ("language_model"), for the bonus
    # of query words found side by side: a term query, so that tantivy finds the top hits
    # without scoring every match (block-max WAND), where a phrase query reads the
    # positions of every paper holding both words (docs/search.md has the measurements).
    builder.add_text_field("text_pairs", tokenizer_name="whitespace", index_option="freq")
    # One value per author, so that a phrase never spans two of them; author_names holds
    # each whole name in lower case (name_key), for exact matches.
    builder.add_text_field("authors", tokenizer_name="default")
    builder.add_text_field("author_names", tokenizer_name="raw")
    # The one author matcher's terms of each author (paperfeed/authors.py), for author:.
    builder.add_text_field("author_keys", tokenizer_name="raw")
    builder.add_text_field("categories", tokenizer_name="raw")
    builder.add_integer_field("day", indexed=True, fast=True)  # yyyymmdd
    return builder.build()


def _parts(words: list[str]) -> list[str]:
    """Lower-cased words split at inner punctuation (one-step -> one, step): lower case
    also keeps the engine's AND/OR/NOT keywords out."""
    return [p for p in re.split(r"[.\-'\s]", " ".join(words).lower()) if p]


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps
    of adjacent letters (modle -> model is 1) each cost 1."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def name_key(words: list[str]) -> str:
    """A name as the author_names field holds it: Jean-Pierre Dupont -> jean pierre dupont."""
    return " ".join(_parts(words))


def _tokens(text: str) -> list[str | None]:
    """text_exact's tokens of `text`; None where a token too long to index was. Cut, then
    lower-cased, as tantivy does ("İ" lower-cased is two characters, the second no letter);
    ASCII text (most) lower-cased at once, which cuts it the same."""
    if text.isascii():
        return [t if len(t) <= MAX_TOKEN_BYTES else None for t in _TOKEN.findall(text.lower())]
    return [t.lower() if len(t.encode()) <= MAX_TOKEN_BYTES else None for t in _TOKEN.findall(text)]


def _pair(first: str | None, second: str | None) -> str | None:
    """The text_pairs term of two adjacent tokens, if the bonus is given for them: two
    different words, neither a stopword nor too long ("of the" earns nothing, and leaving
    such pairs out leaves about half of an abstract's pairs to index)."""
    if not first or not second or first == second or first in STOPWORDS or second in STOPWORDS:
        return None
    return f"{first}_{second}"  # "_" is in no token


def adjacent_pairs(text: str) -> str:
    """The text_pairs value of `text`: its pairs of adjacent tokens ("language_model"),
    separated by spaces (one string: tantivy cuts it faster than it takes a list)."""
    return " ".join(pair for a, b in itertools.pairwise(_tokens(text)) if (pair := _pair(a, b)))


def pair_term(first: str, second: str) -> str | None:
    """The text_pairs term of two query words side by side (each cut as text_exact cuts
    it: "(llm) agents" -> "llm agents"), or None when they earn no bonus."""
    left, right = _tokens(first), _tokens(second)
    return _pair(left[-1], right[0]) if left and right else None


def _phrase(words: list[str]) -> str:
    return '"' + " ".join(_parts(words)) + '"'


@dataclass
class KeywordHit:
    paper_id: int
    score: float
    text: str = ""  # title and abstract, filled for the best hit only
    address: tantivy.DocAddress | None = None


class KeywordIndex:
    """`folder` None: an index in memory, built from the store by the first sync (for
    short-lived callers over a small store, such as tests)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._state: dict = {}  # in memory when there is no folder
        self._sync_lock = threading.Lock()  # one writer per index, also within a process
        # Papers the running sync has still to add (0 between syncs): until then searches
        # miss them, and the search page says so and is not kept (web/pages.py).
        self.behind = 0
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        state = self._read_state()
        if state.get("schema") != SCHEMA_VERSION:
            for child in folder.iterdir() if folder else []:  # an older layout: rebuild
                if child.is_file():
                    child.unlink()
            state = {"schema": SCHEMA_VERSION, "synced_from": None}
            self._write_state(state)
        self.adjacent_boost = ADJACENT_BOOST
        self.word_fields = dict(WORD_FIELDS)
        self.schema = _schema()
        self.index = (
            tantivy.Index(self.schema, path=str(folder)) if folder else tantivy.Index(self.schema)
        )

    @property
    def state_file(self) -> Path | None:
        return self.folder / "state.json" if self.folder else None

    def _read_state(self) -> dict:
        if self.state_file is None:
            return dict(self._state)
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict) -> None:
        if self.state_file is None:
            self._state = dict(state)
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)

    def reload(self) -> None:
        """See the latest commit, made by this process or by another that writes the
        same folder."""
        self.index.reload()

    def catch_up(self, store: Store) -> None:
        """Sync when the store has papers the index lacks."""
        if pending := self.pending(store):
            for _ in self.sync(store, pending):
                pass

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

    def sync(self, store: Store, pending: int | None = None) -> Iterator[int]:
        """Index papers changed since the last sync; yields how many after each batch.
        `pending`: the caller's count of them (`pending()`), so as not to count again (a
        count of every paper at the first sync of a large store takes seconds)."""
        with self._sync_lock, store.engine.connect() as conn:
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
            # A smaller indexing buffer in memory, where the index itself takes RAM too.
            heap = 128_000_000 if self.folder else 32_000_000
            writer = self.index.writer(heap_size=heap, num_threads=1)
            done = 0
            self.behind = self.pending(store) if pending is None else pending
            try:
                for batch in rows.partitions(SYNC_BATCH):
                    for row in batch:
                        writer.delete_documents_by_term("paper_id", row.id)
                        text = f"{row.title}\n{row.abstract}"
                        writer.add_document(
                            tantivy.Document(
                                paper_id=row.id,
                                text=text,
                                text_exact=text,
                                text_pairs=adjacent_pairs(text),
                                authors=list(row.authors),
                                author_names=[name_key([a]) for a in row.authors],
                                author_keys=[
                                    term
                                    for a in row.authors
                                    if (name := parse_name(a)) is not None
                                    for term in name.index_terms()
                                ],
                                categories=list(row.categories),
                                day=paper_day(row.announced_date, row.published_at),
                            )
                        )
                    writer.commit()
                    done += len(batch)
                    self.behind = max(0, self.behind - len(batch))
                    yield done
                writer.commit()
                writer.wait_merging_threads()
            finally:
                self.behind = 0
        if started is not None:
            self._write_state({"schema": SCHEMA_VERSION, "synced_from": started.isoformat()})
        self.index.reload()

    def _parse(self, text: str, fields: dict[str, float]) -> tantivy.Query:
        return self.index.parse_query(text, default_field_names=list(fields), field_boosts=fields)

    def _scored(self, query: ParsedQuery) -> tantivy.Query | None:
        """Any word (stemmed or as typed), the bonus for adjacent
        words; every quoted phrase and author: required."""
        clauses = []
        words = _parts(query.words)
        if words:
            pairs_of_words = itertools.pairwise(words) if self.adjacent_boost else ()
            terms = [t for a, b in pairs_of_words if (t := pair_term(a, b))]
            # The pairs parsed with the words, as one union of terms: beside it in a
            # boolean of their own, they kept tantivy from skipping hits that cannot
            # reach the top (at 2.6M papers: p50 29 -> 17 ms, the same scores).
            pairs = "".join(
                f" text_pairs:{t}^{self.adjacent_boost / len(terms):.6f}" for t in terms
            )
            words_and_pairs = self._parse(" ".join(words) + pairs, self.word_fields)
            clauses.append((tantivy.Occur.Should, words_and_pairs))
        for phrase in query.phrases:  # stemmed: "language model" finds language models
            clauses.append((tantivy.Occur.Must, self._parse(_phrase(phrase), {"text": 1.0})))
        for author in query.authors:
            clauses.append((tantivy.Occur.Must, self._author_clause(author)))
            exact = tantivy.Query.term_query(self.schema, "author_names", name_key(author))
            clauses.append(
                (tantivy.Occur.Should, tantivy.Query.const_score_query(exact, EXACT_NAME_SCORE))
            )
        if len(clauses) == 1 and clauses[0][0] == tantivy.Occur.Should:
            return clauses[0][1]  # words alone: not wrapped in a boolean of one clause
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _author_clause(self, words: list[str]) -> tantivy.Query:
        """author:NAME through the one matcher (Y. LeCun, LeCun Yann and Yann LeCun find
        each other); a single word (author:wei) is any author with that word in the name."""
        name = parse_name(" ".join(words))
        as_written = self._parse(_phrase(words), {"authors": 1.0})
        if name is None or name.key == name.family:  # no given name: a word of any name
            return as_written
        # The name as written matches too: a name found among the query's words
        # (names_in) arrives lower-cased and cut at hyphens and apostrophes, where the
        # matcher reads case ("Van Gool", "Xue Bin Peng") and joins hyphenated family
        # names ("Cohen-Or"), so its key alone would miss them.
        return tantivy.Query.boolean_query(
            [
                *(
                    (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "author_keys", t))
                    for t in name.query_terms()
                ),
                (tantivy.Occur.Should, as_written),
            ]
        )

    def _clauses(self, query: ParsedQuery) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Scored text (words: any; phrases and authors: all), exclusions, filters."""
        clauses = []
        scored = self._scored(query)
        if scored is not None:
            clauses.append((tantivy.Occur.Must, scored))
        # Stemmed: -survey leaves out "surveys" too.
        excluded = [
            self._parse(_phrase(words), {"text": 1.0, "authors": 1.0})
            for words in [[w] for w in query.excluded_words] + query.excluded_phrases
        ]
        clauses += [(tantivy.Occur.MustNot, q) for q in excluded]
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
                        day_number(query.since) if query.since else None,
                        day_number(query.until) if query.until else None,
                    ),
                )
            )
        return clauses

    def _run(
        self,
        query: ParsedQuery,
        limit: int,
        newest_first: bool,
        among: Sequence[int] | None = None,
    ) -> tuple[tantivy.Searcher, list, bool]:
        """(searcher, (key, address) hits, scored); scored is False when the query has
        no terms to rank by (filters or exclusions only). `among`: only these papers."""
        clauses = self._clauses(query)
        if among is not None:
            ids = list(among)
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.term_set_query(self.schema, "paper_id", ids))
            )
        if not clauses or (among is not None and not among):
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

    def search(
        self, query: ParsedQuery, limit: int = 100, among: Sequence[int] | None = None
    ) -> list[KeywordHit]:
        """BM25-ranked hits; with filters or exclusions only, the newest papers first.
        `among`: only these papers (a digest's period)."""
        searcher, found, scored = self._run(query, limit, newest_first=True, among=among)
        # Ids from the fast field (no stored-document reads); the stored text of the best
        # hit only, for the caller to judge how well it matches.
        addresses = [address for _, address in found]
        ids = searcher.fast_field_values("paper_id", addresses) if addresses else []
        hits = [
            KeywordHit(paper_id, float(key) if scored else 0.0, address=address)
            for paper_id, (key, address) in zip(ids, found, strict=True)
        ]
        if scored:  # ties by paper id: the same order whatever order papers were indexed in
            hits.sort(key=lambda hit: (-hit.score, hit.paper_id))
        if hits:
            hits[0].text = searcher.doc(hits[0].address)["text"][0]
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

    def keep_matching(self, query: ParsedQuery, paper_ids: Sequence[int]) -> set[int]:
        """The subset of `paper_ids` that the query matches."""
        searcher, found, _ = self._run(
            query, max(1, len(paper_ids)), newest_first=False, among=paper_ids
        )
        addresses = [address for _, address in found]
        return set(searcher.fast_field_values("paper_id", addresses)) if addresses else set()

    def matching_ids(self, query: ParsedQuery) -> np.ndarray:
        """Every paper id the query matches, in no order: a filter for other lists (a
        category can match 100k papers, so no per-hit Python objects)."""
        return self.matching_days(query)[0]

    def matching_days(self, query: ParsedQuery | None) -> tuple[np.ndarray, np.ndarray]:
        """(paper ids, days as yyyymmdd, 0 for none) of every paper the query matches, in
        no order; None: every paper (the totals trends divide by)."""
        clauses = self._clauses(query) if query is not None else []
        if query is not None and not clauses:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if not any(occur == tantivy.Occur.Must for occur, _ in clauses):
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        searcher = self.index.searcher()
        found = searcher.search(
            tantivy.Query.boolean_query(clauses), limit=max(1, searcher.num_docs), count=False
        ).hits
        addresses = [address for _, address in found]
        if not addresses:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        ids = searcher.fast_field_values("paper_id", addresses)
        days = searcher.fast_field_values("day", addresses)
        return np.array(ids, dtype=np.int64), np.array(days, dtype=np.int64)

    def names_in(self, words: list[str]) -> list[list[str]]:
        """The runs of `words` that name an author in the index, longest first, not
        overlapping. A run names an author when more papers list it (as adjacent words)
        among their authors than carry it in their title and abstract: "hinton" and
        "geoffrey hinton" are names, "deep" and "long" are words (some authors are named
        Deep or Long, but far more abstracts say deep or long)."""
        parts = _parts(words)  # stopwords too: An Yang, Bo An
        searcher = self.index.searcher()
        # One cheap look-up per word first: a word no author has cannot start a name.
        in_names = [searcher.doc_freq("authors", p) > 0 for p in parts]
        names: list[list[str]] = []
        start = 0
        while start < len(parts):
            for end in range(min(len(parts), start + NAME_WORDS), start, -1):
                run = parts[start:end]
                if all(in_names[start:end]) and self._names_an_author(searcher, run):
                    names.append(run)
                    start = end
                    break
            else:
                start += 1
        return names

    def _names_an_author(self, searcher: tantivy.Searcher, run: list[str]) -> bool:
        def papers_with(field: str) -> int:
            if len(run) == 1:
                return searcher.doc_freq(field, run[0])
            found = searcher.search(self._parse(_phrase(run), {field: 1.0}), limit=1)
            return found.count or 0

        as_author = papers_with("authors")
        return as_author > 0 and as_author >= papers_with("text_exact")

    def corrections(self, words: list[str]) -> dict[str, str]:
        """Spelling corrections from the index's own vocabulary: each query word (of at
        least 4 letters) that no title, abstract or author has, mapped to the most common
        word of the titles and abstracts within edit distance 2 (1 for words of up to 5
        letters) that starts with the same two letters. difusion -> diffusion."""
        searcher = self.index.searcher()
        found: dict[str, str] = {}
        for word in dict.fromkeys(p for p in _parts(words) if len(p) >= 4 and p.isalpha()):
            if searcher.doc_freq("text_exact", word) or searcher.doc_freq("authors", word):
                continue
            allowed = 1 if len(word) <= 5 else 2
            candidates = searcher.terms_with_prefix("text_exact", word[:2], limit=SUGGEST_TERMS)
            close = [
                (distance, -count, term)
                for term, count in candidates
                if abs(len(term) - len(word)) <= allowed
                and (distance := edit_distance(word, term)) <= allowed
            ]
            if close:
                found[word] = min(close)[2]
        return found

    def num_docs(self) -> int:
        return self.index.searcher().num_docs
