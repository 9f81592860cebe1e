"""Rising topics: the phrases of titles and abstracts whose share of papers grew most in
the last RECENT_DAYS (4 weeks) against the BEFORE_DAYS (12 weeks) before them.

Phrases are 1 to 3 words (lower case, as `query.words_of` splits them) within a clause,
neither starting nor ending with a stopword (`query.STOPWORDS` and the function words,
numerals and stock words of abstracts in PHRASE_STOPWORDS; "chain of thought" keeps its
"of"), a bare number or a past participle in -ed ("sealed", "declared": the wording of
abstracts, not their subject). Each is counted once per paper (document frequency): y_r
of the N_r papers of the recent window have it, y_b of the N_b before.

The statistic is the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi
and Quinn 2008), on the share of papers: the prior adds PRIOR_PAPERS pseudo-papers to
each window, carrying the phrase at its pooled share p = (y_r + y_b) / (N_r + N_b), so
a = PRIOR_PAPERS * p of them have it and b = PRIOR_PAPERS * (1 - p) do not:

    delta = log((y_r + a) / (N_r - y_r + b)) - log((y_b + a) / (N_b - y_b + b))
    se    = sqrt(1/(y_r + a) + 1/(N_r - y_r + b) + 1/(y_b + a) + 1/(N_b - y_b + b))
    z     = delta / se

Phrases rank by delta - 1.96 se, the low end of the ratio's 95% interval: how much the
share grew at least. A jump seen in a few papers has a wide interval: a phrase seen 3
times, even never before, has z about 1.4 and a low end below 0. A listed phrase needs
z > 1.96 (its share grew) and at least MIN_RECENT_PAPERS recent papers. On the demo's
data, ranking by z alone put common words first ("language": z 13 for a 1.7x rise), by
delta alone phrases of 5 or 6 papers. A phrase inside or around a better-ranked one ("language action" beside
"vision language action"), or the same but for a plural s, is left out.

Computed by the indexing job (`refresh_rising`, from services/indexer.py) when papers
changed since the last run, stored in `rising_phrases`; pages only read the table.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from paperfeed.query import STOPWORDS, words_of
from paperfeed.records import utcnow
from paperfeed.store import Store
from paperfeed.store.schema import papers, rising_phrases, rising_runs

RECENT_DAYS = 28
BEFORE_DAYS = 84
MAX_WORDS = 3
PRIOR_PAPERS = 100.0
Z_95 = 1.96
MIN_RECENT_PAPERS = 10
KEEP = 30  # phrases stored
READ_BATCH = 2_000
# Words that make no topic on their own nor at a phrase's edge: the search's STOPWORDS and
# more function words, numerals, and the verbs and nouns every abstract uses.
PHRASE_STOPWORDS = STOPWORDS | frozenset(
    """
    about above across after again against all almost along already also although always
    among any approach approaches around because been before being below beyond both but
    cannot could despite did different during each either else enable enables et al etc
    even ever every existing few first further given had hence her here his however if
    including instead just less like made make makes many may method methods might more
    most much must my new no nor not novel now often one only other our out over overall
    paper per present proposed propose proposes rather result results same second several
    she should show shown shows since so some still such than then there thereby these
    they this those though three through thus too toward towards two under until upon us
    use used uses various very well were whereas whether while whose within without work
    would yet you your four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen twenty hundred once twice half i e g ii iii
    """.split()  # noqa: SIM905 (a word list reads best as text)
)
# Phrases do not run across these: the title's end, sentence ends, clauses, brackets,
# quotes.
_BREAKS = re.compile(r"[.!?;:]\s|[()\[\]{}\"\n]|,")


@dataclass
class RisingPhrase:
    rank: int
    phrase: str
    recent_papers: int
    before_papers: int
    log_odds: float
    z_score: float

    @property
    def low(self) -> float:
        """The low end of the log-odds ratio's 95% interval: how much it grew, at least."""
        return self.log_odds - Z_95 * self.log_odds / self.z_score

    def to_json(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "phrase": self.phrase,
            "recent_papers": self.recent_papers,
            "before_papers": self.before_papers,
            "log_odds": round(self.log_odds, 4),
            "z_score": round(self.z_score, 4),
        }


@dataclass
class RisingRun:
    clock: date | None
    recent_total: int
    before_total: int

    @property
    def recent_since(self) -> date | None:
        return self.clock - timedelta(days=RECENT_DAYS - 1) if self.clock else None

    @property
    def before_since(self) -> date | None:
        return self.clock - timedelta(days=RECENT_DAYS + BEFORE_DAYS - 1) if self.clock else None


def phrases_of(text: str) -> set[str]:
    """The 1-3 word phrases of a text (see the module's docstring), once each."""
    found: set[str] = set()
    for part in _BREAKS.split(text.lower()):
        words = words_of(part)
        # A word that may begin or end a phrase; a middle word only must not be a number.
        edge = [_can_edge(w) for w in words]
        found.update(w for w, ok in zip(words, edge, strict=True) if ok)
        for i in range(len(words) - 1):
            if not edge[i]:
                continue
            if edge[i + 1]:
                found.add(f"{words[i]} {words[i + 1]}")
            if i + 2 < len(words) and edge[i + 2] and _has_letters(words[i + 1]):
                found.add(f"{words[i]} {words[i + 1]} {words[i + 2]}")
    return found


def _can_edge(word: str) -> bool:
    """Whether a word may begin or end a phrase: not a stopword, not a number, and not a
    past participle ("sealed", "declared": how abstracts are worded, not what about)."""
    return (
        word not in PHRASE_STOPWORDS
        and _has_letters(word)
        and not (len(word) > 4 and word.endswith("ed"))
    )


def _has_letters(word: str) -> bool:
    return len(word) > 1 and any(c.isalpha() for c in word)


def log_odds_z(y_r: int, n_r: int, y_b: int, n_b: int) -> tuple[float, float]:
    """(delta, z) of the statistic above for one phrase."""
    share = (y_r + y_b) / (n_r + n_b)
    if share >= 1:  # in every paper of both windows: nothing to grow
        return 0.0, 0.0
    a, b = PRIOR_PAPERS * share, PRIOR_PAPERS * (1 - share)
    recent_with, recent_without = y_r + a, n_r - y_r + b
    before_with, before_without = y_b + a, n_b - y_b + b
    delta = math.log(recent_with / recent_without) - math.log(before_with / before_without)
    variance = 1 / recent_with + 1 / recent_without + 1 / before_with + 1 / before_without
    return delta, delta / math.sqrt(variance)


def _folded(phrase: str) -> tuple[str, ...]:
    """Words without a plural s, to see "diffusion models" in "diffusion model"."""
    return tuple(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in phrase.split()
    )


def _overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    short, long = sorted((a, b), key=len)
    return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))


def rank_rising(
    recent: Counter[str], before: Counter[str], n_recent: int, n_before: int, keep: int = KEEP
) -> list[RisingPhrase]:
    """The rising phrases, best first (see the module's docstring)."""
    if not n_recent or not n_before:
        return []
    scored = []
    for phrase, y_r in recent.items():
        if y_r < MIN_RECENT_PAPERS:
            continue
        delta, z = log_odds_z(y_r, n_recent, before.get(phrase, 0), n_before)
        if z > Z_95:  # the interval's low end above 0: the share grew
            scored.append((delta - Z_95 * delta / z, delta, z, phrase))
    # Ties (the same papers) go to the longer phrase: "sparse autoencoders", not "sparse".
    scored.sort(key=lambda item: (-item[0], -item[3].count(" "), item[3]))
    chosen: list[RisingPhrase] = []
    taken: list[tuple[str, ...]] = []
    for _, delta, z, phrase in scored:
        folded = _folded(phrase)
        if any(_overlaps(folded, other) for other in taken):
            continue
        taken.append(folded)
        chosen.append(
            RisingPhrase(len(chosen) + 1, phrase, recent[phrase], before.get(phrase, 0), delta, z)
        )
        if len(chosen) == keep:
            break
    return chosen


def count_phrases(texts: Iterable[str], among: set[str] | None = None) -> tuple[Counter[str], int]:
    """(papers per phrase, papers) over `texts`; `among`: count only these phrases."""
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        found = phrases_of(text)
        counts.update(found if among is None else found & among)
        total += 1
    return counts, total


def _paper_day() -> sa.ColumnElement:
    """A paper's date as trends and search read it: announced, else published (date() is
    a function on SQLite and a cast on PostgreSQL)."""
    return sa.func.coalesce(
        papers.c.announced_date, sa.func.date(papers.c.published_at), type_=sa.Date
    )


def _texts(conn: sa.Connection, since: date, until: date) -> Iterable[str]:
    day = _paper_day()
    rows = conn.execution_options(yield_per=READ_BATCH).execute(
        sa.select(papers.c.title, papers.c.abstract).where(day >= since, day <= until)
    )
    for title, abstract in rows:
        yield f"{title}\n{abstract}"


def refresh_rising(store: Store, today: date | None = None) -> bool:
    """Recompute the rising phrases when papers changed (or the clock moved) since the
    last run; True when it did. The clock is `today`, else the newest paper's day."""
    with store.engine.connect() as conn:
        clock = today or conn.execute(sa.select(sa.func.max(_paper_day()))).scalar()
        ingested = conn.execute(sa.select(sa.func.max(papers.c.ingested_at))).scalar()
        last = conn.execute(
            sa.select(rising_runs.c.clock, rising_runs.c.papers_ingested_until)
            .order_by(rising_runs.c.id.desc())
            .limit(1)
        ).first()
        if last is not None and (last.clock, last.papers_ingested_until) == (clock, ingested):
            return False
        ranked: list[RisingPhrase] = []
        n_recent = n_before = 0
        if clock is not None:
            recent_since = clock - timedelta(days=RECENT_DAYS - 1)
            before_since = recent_since - timedelta(days=BEFORE_DAYS)
            recent, n_recent = count_phrases(_texts(conn, recent_since, clock))
            # Only phrases frequent enough lately can rise: the rest are not counted before.
            candidates = {p for p, n in recent.items() if n >= MIN_RECENT_PAPERS}
            before, n_before = count_phrases(
                _texts(conn, before_since, recent_since - timedelta(days=1)), candidates
            )
            ranked = rank_rising(recent, before, n_recent, n_before)
    with store.write() as conn:
        if conn.dialect.name == "postgresql":  # two workers' runs replace the rows in turn
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7262711)"))
        conn.execute(rising_phrases.delete())
        conn.execute(rising_runs.delete())  # the last run is all a page shows
        if ranked:
            conn.execute(rising_phrases.insert(), [asdict(r) for r in ranked])
        conn.execute(
            rising_runs.insert(),
            {
                "computed_at": utcnow(),
                "clock": clock,
                "recent_total": n_recent,
                "before_total": n_before,
                "papers_ingested_until": ingested,
            },
        )
    return True


def rising_topics(conn: sa.Connection) -> tuple[RisingRun | None, list[RisingPhrase]]:
    """The last run's windows and its phrases, best first (None: never computed)."""
    run = conn.execute(
        sa.select(rising_runs.c.clock, rising_runs.c.recent_total, rising_runs.c.before_total)
        .order_by(rising_runs.c.id.desc())
        .limit(1)
    ).first()
    if run is None:
        return None, []
    rows = conn.execute(sa.select(rising_phrases).order_by(rising_phrases.c.rank)).mappings()
    return RisingRun(run.clock, run.recent_total, run.before_total), [
        RisingPhrase(**row) for row in rows
    ]
