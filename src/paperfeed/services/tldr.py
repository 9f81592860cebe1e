"""One-line summaries (TL;DR): one sentence chosen from a paper's abstract, offline, on a CPU.

The abstract is split into sentences (`split_sentences`, a small rule-based splitter that
knows "e.g.", "et al.", decimals and "Fig. 2"); each sentence gets a few cheap features
(position, length, overlap with the title and with the abstract as a whole, cue phrases);
a linear model scores them and the best one wins, with a leading "In this paper, " and
the like cut off. The weights were fitted offline on an earlier date range of Hugging
Face's daily papers against their AI summaries and are kept in `tldr_weights.py`
(method, split and numbers: docs/tldr.md; the evaluation: services/tldr_eval.py).
No embeddings: word overlap scores as well here and runs at thousands of papers a second.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from paperfeed.records import utcnow
from paperfeed.services.tldr_weights import METHOD, WEIGHTS
from paperfeed.store import Store, insert_or_replace
from paperfeed.store.schema import paper_tldrs, papers

BATCH = 2000  # papers summarized per transaction
MAX_TLDR_CHARS = 600  # a run-on "sentence" (a splitter miss) is cut at a word

# Tokens after which a full stop does not end a sentence. Lower case, without the dot.
_ABBREVIATIONS = frozenset(
    {
        "al", "e.g", "i.e", "cf", "vs", "etc", "fig", "figs", "eq", "eqs", "sec", "secs", "ref",
        "refs", "tab", "no", "nos", "vol", "approx", "resp", "dr", "mr", "mrs", "ms", "prof",
        "st", "jr", "sr", "inc", "ltd", "co", "corp", "dept", "univ", "viz", "ca", "eg", "ie",
        "esp", "incl"
    }
)  # fmt: skip
# A candidate boundary: . ! or ? (with closing quotes or brackets after it), spaces, then
# what may open a sentence: an upper-case letter, or a quote/bracket before one.
_BOUNDARY = re.compile(r"""([.!?]+["'”’)\]]*)\s+(?=["'“‘(\[]?[A-Z])""")
_WORD_BEFORE = re.compile(r"(\S+)$")
_LOOK_BACK = 40  # characters: longer than any abbreviation
_WORD = re.compile(r"[a-z0-9]+")

_STOPWORDS = frozenset(
    {
        "a", "an", "the", "of", "and", "or", "in", "on", "for", "to", "with", "by", "from",
        "at", "as", "is", "are", "was", "were", "be", "been", "being", "this", "that", "these",
        "those", "it", "its", "we", "our", "us", "their", "they", "them", "which", "who",
        "whom", "whose", "what", "when", "where", "how", "than", "then", "also", "can", "could",
        "may", "might", "will", "would", "should", "has", "have", "had", "do", "does", "did",
        "not", "no", "but", "if", "so", "such", "via", "into", "over", "under", "between",
        "both", "each", "more", "most", "other", "some", "any", "all", "there", "here", "while",
        "about", "across", "after", "before", "during", "through", "up", "down", "out", "new",
        "use", "using", "used", "based", "show", "shows", "paper", "work", "approach", "method",
        "methods", "model", "models", "propose", "proposed", "present", "introduce"
    }
)  # fmt: skip

# Cue phrases, searched in the lower-cased sentence.
_CONTRIBUTION = re.compile(
    r"\bwe (propose|introduce|present|develop|design|build|release|construct|"
    r"describe|formulate|offer)\b|\b(this|the present) (paper|work|study|report)\b|"
    r"\bin this (paper|work|study)\b|\b(our|the proposed) (method|approach|framework|model)\b"
)
_FINDING = re.compile(r"\bwe (show|demonstrate|find|observe|prove|reveal)\b|\boutperform")
_BACKGROUND = re.compile(
    r"^(however|yet|but|despite|although|while|recent|existing|current|traditional|"
    r"conventional|prior|previous)\b|\b(remain|remains|challenging|challenge|limited|"
    r"struggle|struggles|suffer|suffers)\b"
)
_AVAILABILITY = re.compile(
    r"\b(code|data|models?|dataset) (is|are|will be) (publicly )?(available|released)\b|https?://|github"
)
_NUMBER = re.compile(r"\d")
# A lead-in that says where the sentence comes from rather than what the paper does: cut.
_LEAD_IN = re.compile(
    r"^(in|within) (this|the present) (paper|work|study|report|article)\s*,\s*|"
    r"^(to (address|tackle|overcome|solve|bridge|fill|mitigate|close) "
    r"(this|these|that|those|such)( [a-z-]+){0,3}|to this end|in response|"
    r"motivated by (this|these)( [a-z-]+){0,2}|in particular|specifically|"
    r"concretely|finally|moreover|furthermore|additionally|in addition|"
    r"here|therefore|thus|hence|as a result)\s*,\s*",
    re.IGNORECASE,
)


FEATURE_NAMES = (
    "bias", "first", "second", "last", "position", "log_length", "short", "long",
    "title_overlap", "centroid", "names_system", "contribution", "finding", "background",
    "availability", "numbers",
)  # fmt: skip


def split_sentences(text: str) -> list[str]:
    """The sentences of an abstract, in order. A full stop after a known abbreviation or a
    single capital (an initial) does not end one; nor does one inside a number (no space
    follows it) or before a lower-case word or a digit ("Fig. 2", "et al. (2020)")."""
    text = " ".join(text.split())
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end(1)
        # Only the word before the stop matters: a bounded look-back keeps a hostile
        # abstract (one long token, thousands of "e.g.") linear.
        before = text[max(start, match.start(1) - _LOOK_BACK) : match.start(1)]
        if match.group(1).startswith(".") and _is_abbreviation(before):
            continue
        sentence = text[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_abbreviation(before: str) -> bool:
    word = _WORD_BEFORE.search(before)
    if word is None:
        return False
    token = word.group(1).lstrip("(\"'[“‘")
    if len(token) == 1 and token.isupper():
        return True  # an initial: "J. Smith", "U.S."
    return token.lower() in _ABBREVIATIONS or (
        "." in token and all(p.isalpha() and len(p) <= 2 for p in token.split("."))
    )  # dotted letters: "e.g", "U.S", "i.e"; not a number such as "0.95"


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1]


def _cosine_to_rest(own: Counter[str], whole: Counter[str], whole_sq: int) -> float:
    """Cosine of a sentence's word counts to those of the other sentences (whole - own),
    without building the difference: dot = own.whole - |own|^2 and
    |rest|^2 = |whole|^2 - 2 own.whole + |own|^2, sums over the sentence's words only."""
    own_sq = sum(c * c for c in own.values())
    own_whole = sum(c * whole[w] for w, c in own.items())
    rest_sq = whole_sq - 2 * own_whole + own_sq
    if not own_sq or not rest_sq:
        return 0.0
    return (own_whole - own_sq) / math.sqrt(own_sq * rest_sq)


def _name_of(title: str) -> str | None:
    """The name a title gives its system ("Web-Shepherd: Advancing ..."), lower case."""
    head, colon, _ = title.partition(":")
    head = head.strip()
    if colon and 0 < len(head.split()) <= 3:
        return head.lower()
    return None


def sentence_features(title: str, sentences: list[str]) -> list[dict[str, float]]:
    """The features (FEATURE_NAMES) of each sentence of one abstract."""
    title_words = set(content_words(title))
    name = _name_of(title)
    words = [content_words(s) for s in sentences]
    whole = Counter(w for ws in words for w in ws)
    whole_sq = sum(c * c for c in whole.values())
    n = len(sentences)
    rows = []
    for i, (sentence, ws) in enumerate(zip(sentences, words, strict=True)):
        lower = sentence.lower()
        length = len(sentence.split())
        own = Counter(ws)
        rows.append(
            {
                "bias": 1.0,
                "first": float(i == 0),
                "second": float(i == 1),
                "last": float(i == n - 1 and n > 1),
                "position": i / (n - 1) if n > 1 else 0.0,
                "log_length": math.log1p(length),
                "short": float(length < 10),
                "long": float(length > 45),
                "title_overlap": len(title_words & set(ws)) / len(title_words)
                if title_words
                else 0.0,
                "centroid": _cosine_to_rest(own, whole, whole_sq),
                "names_system": float(name is not None and name in lower),
                "contribution": float(bool(_CONTRIBUTION.search(lower))),
                "finding": float(bool(_FINDING.search(lower))),
                "background": float(bool(_BACKGROUND.search(lower))),
                "availability": float(bool(_AVAILABILITY.search(lower))),
                "numbers": min(len(_NUMBER.findall(sentence)), 10) / 10,
            }
        )
    return rows


def score_sentences(title: str, sentences: list[str]) -> list[float]:
    return [
        sum(WEIGHTS[name] * value for name, value in row.items())
        for row in sentence_features(title, sentences)
    ]


def trim_lead_in(sentence: str) -> str:
    """The sentence without a lead-in such as "In this paper, " or "To address this, "
    (upper-casing its new first letter): the TL;DR says what the paper does."""
    trimmed = _LEAD_IN.sub("", sentence, count=1)
    if trimmed == sentence or len(trimmed.split()) < 5:
        return sentence
    return trimmed[0].upper() + trimmed[1:]


def _bounded(sentence: str) -> str:
    if len(sentence) <= MAX_TLDR_CHARS:
        return sentence
    return sentence[:MAX_TLDR_CHARS].rsplit(" ", 1)[0] + "…"


def summarize(title: str, sentences: list[str]) -> str:
    """The best-scoring of an abstract's sentences (at least one), its lead-in cut."""
    scores = score_sentences(title, sentences)
    best = max(range(len(sentences)), key=scores.__getitem__)
    return _bounded(trim_lead_in(sentences[best]))


def choose_tldr(title: str, abstract: str) -> str | None:
    """The one-line summary of a paper; None for an empty abstract."""
    sentences = split_sentences(abstract)
    return summarize(title, sentences) if sentences else None


def stale_tldrs() -> sa.Select:
    """Papers without a TL;DR by the current method, or ingested again since theirs."""
    current = (
        sa.select(paper_tldrs.c.paper_id)
        .where(paper_tldrs.c.paper_id == papers.c.id)
        .where(paper_tldrs.c.method == METHOD)
        .where(paper_tldrs.c.computed_at >= papers.c.ingested_at)
    )
    return sa.select(papers.c.id, papers.c.title, papers.c.abstract).where(~sa.exists(current))


def count_stale_tldrs(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(stale_tldrs().subquery())
        ).scalar_one()


def summarize_pending(
    store: Store, on_progress: Callable[[int], None] | None = None
) -> Iterator[int]:
    """Summarize every stale paper, committing each batch (an interrupted run keeps its
    work); yields the running count. `on_progress` gets each batch's size. Batches go up
    the paper ids, each starting after the last (a paper re-ingested behind the cursor
    meanwhile is the next call's), so no batch rescans the papers already done."""
    done = 0
    after = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(
                stale_tldrs().where(papers.c.id > after).order_by(papers.c.id).limit(BATCH)
            ).all()
        if not rows:
            return
        after = rows[-1].id
        now = utcnow()
        values = [
            {"paper_id": r.id, "method": METHOD, "tldr": choose_tldr(r.title, r.abstract),
             "computed_at": now}
            for r in rows
        ]  # fmt: skip
        with store.engine.begin() as conn:  # another indexer may write the same at once
            insert_or_replace(conn, paper_tldrs, values)
        done += len(rows)
        if on_progress:
            on_progress(len(rows))
        yield done
