"""Weights of the TL;DR sentence scorer (services/tldr.py), fitted by
scripts/fit_tldr.py on 3,272 Hugging Face daily papers listed before HELD_OUT_FROM
(docs/tldr.md). Generated: refit rather than edit by hand."""

from datetime import date

METHOD = "tldr-lex-0"
HELD_OUT_FROM = date(2026, 3, 1)
WEIGHTS = {
    "bias": -0.05267,
    "first": -0.01043,
    "second": -0.02018,
    "last": -0.00087,
    "position": -0.05923,
    "log_length": 0.00723,
    "short": -0.02975,
    "long": -0.03534,
    "title_overlap": 0.10176,
    "centroid": 0.13912,
    "names_system": 0.03097,
    "contribution": 0.05431,
    "finding": 0.00295,
    "background": -0.01857,
    "availability": -0.03116,
    "numbers": -0.02340,
}
