"""Fit the TL;DR sentence scorer's weights (src/paperfeed/services/tldr_weights.py).

    .venv/bin/python scripts/fit_tldr.py ../shared/data/hf-daily-papers/hf_daily_papers.jsonl.gz

Only papers listed before tldr_weights.HELD_OUT_FROM are read for fitting; the later
ones are what `paperfeed eval tldr` scores. Each sentence of a training abstract is
one row: its features (services/tldr.sentence_features) and, as the target, the
ROUGE-L F1 of that sentence (lead-in cut, as it would be shown) against Hugging Face's
AI summary, minus the mean of its abstract's sentences (only the order within an
abstract matters). A ridge regression in closed form; no randomness, so a rerun writes
the same file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from paperfeed.services import tldr, tldr_weights
from paperfeed.services.tldr_eval import read_pairs, rouge_scorer

RIDGE = 1.0
WEIGHTS_FILE = Path(tldr_weights.__file__)


def training_rows(pairs) -> tuple[np.ndarray, np.ndarray]:
    scorer = rouge_scorer()
    features, targets = [], []
    for pair in pairs:
        sentences = tldr.split_sentences(pair.abstract)
        if len(sentences) < 2:
            continue
        scores = [
            scorer.score(pair.reference, tldr.trim_lead_in(s))["rougeL"].fmeasure for s in sentences
        ]
        mean = sum(scores) / len(scores)
        for row, score in zip(tldr.sentence_features(pair.title, sentences), scores, strict=True):
            features.append([row[name] for name in tldr.FEATURE_NAMES])
            targets.append(score - mean)
    return np.array(features), np.array(targets)


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    xs = x / scale
    w = np.linalg.solve(xs.T @ xs + RIDGE * np.eye(x.shape[1]), xs.T @ y)
    return w / scale


def write_weights(method: str, weights: dict[str, float], trained: int) -> None:
    body = ",\n".join(f'    "{name}": {value:.5f}' for name, value in weights.items())
    WEIGHTS_FILE.write_text(
        f'''"""Weights of the TL;DR sentence scorer (services/tldr.py), fitted by
scripts/fit_tldr.py on {trained:,} Hugging Face daily papers listed before HELD_OUT_FROM
(docs/tldr.md). Generated: refit rather than edit by hand."""

from datetime import date

METHOD = "{method}"
HELD_OUT_FROM = date({tldr_weights.HELD_OUT_FROM.year}, {tldr_weights.HELD_OUT_FROM.month}, {tldr_weights.HELD_OUT_FROM.day})
WEIGHTS = {{
{body},
}}
'''
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument(
        "--method", default=tldr_weights.METHOD, help="the name stored beside each TL;DR"
    )
    args = parser.parse_args()
    pairs, rejected = read_pairs(args.path)
    train = [p for p in pairs if p.day < tldr_weights.HELD_OUT_FROM]
    x, y = training_rows(train)
    weights = dict(zip(tldr.FEATURE_NAMES, (float(v) for v in fit(x, y)), strict=True))
    write_weights(args.method, weights, len(train))
    print(f"fitted on {len(train):,} papers ({len(y):,} sentences); {len(rejected)} rejected")
    for name, value in weights.items():
        print(f"  {name:16} {value:+.4f}")
    print(f"wrote {WEIGHTS_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
