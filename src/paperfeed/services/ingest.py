"""Running a source into the store: batches, checkpoints, progress, a summary.

Each batch is written in one transaction together with the source's cursor, so Ctrl-C or a
crash loses nothing that was committed and a rerun of the same command continues from the
last checkpoint. Writes are idempotent upserts, so replaying part of a batch is harmless.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from tqdm import tqdm

from paperfeed.records import DailyRecord, PaperRecord
from paperfeed.sources.base import Checkpoint, Rejected, Skipped, Source
from paperfeed.store import Store, checkpoints
from paperfeed.store.community import upsert_daily
from paperfeed.store.papers import ADDED
from paperfeed.store.papers import upsert_papers as store_papers

# Without a checkpoint from the source, commit anyway after this many records (the cursor
# stays behind, so a resume repeats them, harmlessly).
MAX_PENDING = 10_000
KEEP_REJECTIONS = 1_000


@dataclass
class IngestSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0
    papers_added: int = 0  # papers created as a side effect (daily lists)
    resumed_from: str | None = None
    seconds: float = 0.0
    rejections: list[Rejected] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.added + self.updated + self.unchanged

    def line(self, what: str) -> str:
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        extra = f", {self.papers_added} new papers" if self.papers_added else ""
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return (
            f"{what}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected{skipped}{extra} in {self.seconds:.1f} s "
            f"({rate:,.0f}/s)"
        )


class _Batch:
    def __init__(self, store: Store, source: Source, summary: IngestSummary) -> None:
        self.store = store
        self.source = source
        self.summary = summary
        self.records: list[PaperRecord | DailyRecord] = []

    def commit(self, cursor: str | None, finished: bool = False) -> None:
        # write(): the batch reads what is stored before it writes; another writer's
        # commit in between (a lease renewal, a vote) must queue, not fail the ingest.
        with self.store.write() as conn:
            papers = [r for r in self.records if isinstance(r, PaperRecord)]
            daily = [r for r in self.records if isinstance(r, DailyRecord)]
            statuses: list[str] = []
            if papers:
                statuses += [s for _, s in store_papers(conn, papers, self.source.kind)]
            if daily:
                for _, paper_status, entry_status in upsert_daily(conn, daily):
                    statuses.append(entry_status)
                    self.summary.papers_added += paper_status == ADDED
            if finished:
                checkpoints.clear(conn, self.source.job)
            elif cursor is not None:
                checkpoints.save(conn, self.source.job, cursor)
        for status in statuses:
            setattr(self.summary, status, getattr(self.summary, status) + 1)
        self.records.clear()


def run_ingest(store: Store, source: Source, show_progress: bool = True) -> IngestSummary:
    summary = IngestSummary()
    started = time.perf_counter()
    with store.engine.connect() as conn:
        summary.resumed_from = checkpoints.load(conn, source.job)
    batch = _Batch(store, source, summary)
    bar = tqdm(
        # None: tqdm shows the bar only when stderr is a terminal.
        disable=None if show_progress else True,
        file=sys.stderr,
        unit=" records",
        dynamic_ncols=True,
        mininterval=0.5,
    )
    seen = 0
    try:
        for item in source.items(summary.resumed_from):
            if isinstance(item, Checkpoint):
                batch.commit(item.cursor)
                _show(bar, source, seen)
                continue
            seen += 1
            if isinstance(item, Rejected):
                summary.rejected += 1
                if len(summary.rejections) < KEEP_REJECTIONS:
                    summary.rejections.append(item)
            elif isinstance(item, Skipped):
                summary.skipped += 1
            else:
                batch.records.append(item)
                if len(batch.records) >= MAX_PENDING:
                    batch.commit(None)
        batch.commit(None, finished=True)
    except BaseException:
        # Whatever stopped us (an error, Ctrl-C), keep the records already read: they
        # are valid, and the checkpoint stays at the last commit, so a rerun resumes.
        if batch.records:
            batch.commit(None)
        raise
    finally:
        _show(bar, source, seen)
        bar.close()
        summary.seconds = time.perf_counter() - started
    return summary


def _show(bar: tqdm, source: Source, seen: int) -> None:
    if bar.disable:
        return
    position = source.progress()
    if position is None:
        bar.n = seen
    else:
        bar.n, bar.total, unit = position
        bar.unit, bar.unit_scale = (unit, unit == "B")
    bar.refresh()
