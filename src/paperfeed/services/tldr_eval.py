"""`paperfeed eval tldr`: the TL;DR (services/tldr.py) against Hugging Face's one-line AI
summaries, beside three baselines, in ROUGE-1/2/L F1 (the `rouge-score` package, with
Porter stemming).

The TL;DR's weights were fitted on the papers listed before `tldr_weights.HELD_OUT_FROM`,
so only papers listed on or after it are scored, for every method alike (docs/tldr.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from paperfeed.errors import PaperfeedError
from paperfeed.records import DailyRecord
from paperfeed.services.tldr import content_words, split_sentences, summarize
from paperfeed.services.tldr_weights import HELD_OUT_FROM
from paperfeed.sources.base import Rejected
from paperfeed.sources.hf_daily import HfDailyFileSource

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@dataclass(frozen=True)
class SummaryPair:
    """A paper and Hugging Face's AI summary of it: the reference."""

    arxiv_id: str
    day: date
    title: str
    abstract: str
    reference: str


def read_pairs(path: Path) -> tuple[list[SummaryPair], list[Rejected]]:
    """Every paper of a daily-papers file (or folder) that has an AI summary, once (its
    first listing); malformed entries come back as rejections with their place."""
    pairs: dict[str, SummaryPair] = {}
    rejected: list[Rejected] = []
    for item in HfDailyFileSource(path).items(None):
        if isinstance(item, Rejected):
            rejected.append(item)
        elif isinstance(item, DailyRecord) and item.ai_summary and item.paper.abstract:
            paper = item.paper
            if paper.arxiv_id not in pairs:
                pairs[paper.arxiv_id] = SummaryPair(
                    paper.arxiv_id, item.day, paper.title, paper.abstract, item.ai_summary
                )
    return list(pairs.values()), rejected


def held_out(pairs: list[SummaryPair]) -> list[SummaryPair]:
    return [p for p in pairs if p.day >= HELD_OUT_FROM]


def first_sentence(title: str, sentences: list[str]) -> str:
    return sentences[0]


def last_sentence(title: str, sentences: list[str]) -> str:
    return sentences[-1]


def title_overlap(title: str, sentences: list[str]) -> str:
    """The sentence holding the most distinct title words (not stop words); the first
    such on a tie."""
    title_words = set(content_words(title))
    return max(sentences, key=lambda s: len(title_words & set(content_words(s))))


def tldr(title: str, sentences: list[str]) -> str:
    return summarize(title, sentences)


# The order of the table and of the JSON object.
METHODS: dict[str, Callable[[str, list[str]], str]] = {
    "tldr": tldr,
    "first_sentence": first_sentence,
    "last_sentence": last_sentence,
    "title_overlap": title_overlap,
}


def rouge_scorer():
    """rouge-score's scorer, imported here: it loads nltk, seconds that no other command
    should pay. It comes with the `bench` and `test` extras."""
    try:
        from rouge_score.rouge_scorer import RougeScorer
    except ImportError as exc:
        raise PaperfeedError(
            "eval tldr needs the rouge-score package: pip install -e '.[bench]'"
        ) from exc
    return RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def evaluate_tldr(pairs: list[SummaryPair]) -> dict[str, dict[str, float]]:
    """Mean ROUGE F1 of each method over `pairs`: {method: {rouge1, rouge2, rougeL}}."""
    if not pairs:
        raise PaperfeedError(
            f"no papers with a Hugging Face AI summary listed on or after {HELD_OUT_FROM} "
            "to evaluate on"
        )
    scorer = rouge_scorer()
    totals = {name: dict.fromkeys(ROUGE_TYPES, 0.0) for name in METHODS}
    for pair in pairs:
        sentences = split_sentences(pair.abstract)
        for name, method in METHODS.items():
            scores = scorer.score(pair.reference, method(pair.title, sentences))
            for kind in ROUGE_TYPES:
                totals[name][kind] += scores[kind].fmeasure
    return {
        name: {kind: round(total / len(pairs), 4) for kind, total in sums.items()}
        for name, sums in totals.items()
    }
