"""The trends chart: an SVG drawn by matplotlib (its SVG backend, no pyplot state), served
from the site's own origin and shown with <img>, so the Content-Security-Policy stays as
it is. Two sizes: `wide` for desktops, `narrow` (fewer ticks, larger type relative to its
width) for phones, picked by the page's <picture> media query."""

from __future__ import annotations

import io
import threading
import warnings

from paperfeed.services.trends import Trends, series_values

SIZES = {"wide": (9.0, 3.8), "narrow": (4.2, 4.2)}  # inches, at 100 dpi in a browser
# Colours told apart by most readers, colour-blind ones too (Okabe and Ito's palette).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
MARKERS = ("o", "s", "^", "D", "v", "P")
Y_LABELS = {"share": "% of the period's papers", "count": "papers", "votes": "upvotes"}
# matplotlib's figures are not safe to draw from several threads at once.
_DRAWING = threading.Lock()


def trends_svg(result: Trends, view: str, size: str) -> bytes:
    from matplotlib import rc_context  # a second to import: only when a chart is drawn
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    width, height = SIZES[size]
    narrow = size == "narrow"
    labels = [p.label for p in result.periods]
    positions = list(range(len(labels)))
    with _DRAWING:
        figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        for i, series in enumerate(result.series):
            axes.plot(
                positions,
                series_values(series, view),
                label=series.query if len(series.query) <= 40 else series.query[:39] + "…",
                color=COLOURS[i % len(COLOURS)],
                marker=MARKERS[i % len(MARKERS)],
                markersize=3 if narrow else 4,
                linewidth=1.6,
            )
        axes.set_ylabel(Y_LABELS[view], fontsize=11 if narrow else 10)
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", color="#dddddd", linewidth=0.6)
        axes.spines[["top", "right"]].set_visible(False)
        ticks = 4 if narrow else 10
        step = max(1, -(-len(labels) // ticks))
        axes.set_xticks(
            positions[::step], labels[::step], fontsize=10, rotation=0 if narrow else 30
        )
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=view != "share"))
        axes.tick_params(axis="y", labelsize=10)
        if result.series:
            axes.legend(
                loc="upper center",
                bbox_to_anchor=(0.5, -0.12 if narrow else -0.22),
                ncols=1 if narrow else 3,
                fontsize=11 if narrow else 10,
                frameon=False,
            )
        out = io.BytesIO()
        # No date in the metadata and a fixed id salt: the same data, the same bytes.
        with rc_context({"svg.hashsalt": "paperfeed"}), warnings.catch_warnings():
            # A query in a script the font lacks is drawn with boxes, not logged each time.
            warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
            figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()
