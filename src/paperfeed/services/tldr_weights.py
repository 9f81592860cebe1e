"""Weights of the TL;DR sentence scorer (services/tldr.py), fitted by
scripts/fit_tldr.py on 3,272 Hugging Face daily papers listed before HELD_OUT_FROM
(docs/tldr.md). Generated: refit rather than edit by hand."""

from datetime import date

METHOD = "tldr-lex-0"
HELD_OUT_FROM = date(2026, 3, 1)
WEIGHTS = {
    "bias": -0.05253,
    "first": -0.01049,
    "second": -0.02027,
    "last": -0.00081,
    "position": -0.05930,
    "log_length": 0.00725,
    "short": -0.02931,
    "long": -0.03612,
    "title_overlap": 0.10181,
    "centroid": 0.13900,
    "names_system": 0.03095,
    "contribution": 0.05425,
    "finding": 0.00276,
    "background": -0.01868,
    "availability": -0.03164,
    "numbers": -0.02367,
}
