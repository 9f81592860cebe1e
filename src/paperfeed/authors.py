"""The one author matcher: when two written names are taken for one author.

Every place that compares author names goes through here: the author pages
(services/authors.py, over the `paper_authors` table), search's `author:` (the keyword
index's `author_keys` field), the digests' followed authors and For you (both through
that search). The rules, documented for readers in docs/authors.md:

1. Fold: Unicode compatibility form, accents dropped (Müller -> muller, Sørensen ->
   sorensen), case folded, other punctuation dropped (O'Brien -> obrien); letters and
   digits kept. A "name" without a letter is no name.
2. Order: "Family, Given" is read as "Given Family" (a trailing Jr./Sr./II/III goes).
3. Words split at spaces and dots, given names also at hyphens (Jean-Pierre, J.-P.);
   the family name is the last word, hyphens dropped (Garcia-Lopez -> garcialopez), with the
   particles written in lower case before it (van, von, de, del, la, le, ...) joined to
   it: "Jan van der Berg" -> vanderberg, "Ana de la Cruz" -> delacruz.
4. The key is the first letter of the first given name and the family name
   ("Yann LeCun", "Y. LeCun", "LeCun, Yann" -> "y lecun"); a one-word name is its own key.
5. Two names are one author when their keys are equal and either their first given
   names are equal or one of them gives initials only ("Y. LeCun" ~ "Yann LeCun";
   "Yang Liu" and "Yi Liu" are two authors; middle names and initials are not compared).

A key that several first names share is ambiguous: "Y. Liu" may be Yang Liu or Yi Liu,
and a page for Yang Liu also lists the papers written by "Y. Liu". The author page says so
and names them (services/authors.py).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

MAX_NAME_CHARS = 200  # longer "names" are not names: nothing matches them
# Letters NFKD does not take apart into a base letter and a mark.
_LETTERS = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "æ": "ae", "Æ": "ae"}
    | {"œ": "oe", "Œ": "oe", "ß": "ss", "ı": "i", "þ": "th", "ð": "d"}
)
_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "du", "la", "le"}
    | {"ter", "ten", "zu", "bin", "al", "el"}
)
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
_SPLIT = re.compile(r"[\s.]+")
_HYPHEN = re.compile(r"[\-‐‑–]+")  # and the Unicode hyphens
_NOT_LETTER = re.compile(r"[\W_]")  # letters and digits stay (a digit is rare, but not nothing)


def fold(text: str) -> str:
    """Accents, case and compatibility forms folded: "Sørensen" -> "sorensen"."""
    if text.isascii():  # most names: nothing to decompose (ingest folds every author)
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def natural_order(name: str) -> str:
    """ "LeCun, Yann" -> "Yann LeCun"; a name without a comma is returned as it is."""
    parts = [p.strip() for p in name.split(",")]
    parts = [p for p in parts if p and fold(p).strip(". ") not in _SUFFIXES]
    if len(parts) < 2:
        return parts[0] if parts else ""
    return " ".join([*parts[1:], parts[0]])


@dataclass(frozen=True)
class AuthorName:
    """A written name, matched: `key` ("y lecun"), `first` (the first given name,
    "yann"; None when only initials are given), `family` ("lecun")."""

    key: str
    first: str | None
    family: str

    @property
    def initials_only(self) -> bool:
        return self.first is None

    def same_author(self, other: AuthorName) -> bool:
        """Rule 5."""
        return self.key == other.key and (
            self.first is None or other.first is None or self.first == other.first
        )

    @property
    def full(self) -> str:
        """The folded name as far as it is compared: "yann lecun", or the key."""
        return f"{self.first} {self.family}" if self.first else self.key

    def index_terms(self) -> list[str]:
        """What the keyword index stores for this author (field `author_keys`): a name
        given in full is found under its key and its full form, one in initials under
        its key and as initials."""
        full = [f"f:{self.full}"] if self.first else [f"i:{self.key}"]
        return [f"k:{self.key}", *full]

    def query_terms(self) -> list[str]:
        """The index terms that rule 5 accepts for this name (any of them)."""
        if self.first is None:
            return [f"k:{self.key}"]
        return [f"f:{self.full}", f"i:{self.key}"]


def parse_name(name: str) -> AuthorName | None:
    """The matcher's reading of a written name; None when it holds no letters (or is
    longer than MAX_NAME_CHARS)."""
    if len(name) > MAX_NAME_CHARS or not any(c.isalpha() for c in name):
        return None
    written = _SPLIT.split(natural_order(name))
    # Given names split at hyphens (J.-P.), the family name joined.
    written = [p for w in written[:-1] for p in _HYPHEN.split(w)] + written[-1:]
    folded = [(w, _NOT_LETTER.sub("", fold(w))) for w in written]
    written = [w for w, f in folded if f]
    words = [f for _, f in folded if f]
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    if not words:
        return None
    family_start = len(words) - 1
    # A particle joins the family name only written in lower case (van der Berg): "Le",
    # "Di" or "Da" capitalized are as often given names.
    while (
        family_start > 1
        and words[family_start - 1] in _PARTICLES
        and written[family_start - 1].islower()
    ):
        family_start -= 1
    given, family = words[:family_start], "".join(words[family_start:])
    if not given:
        return AuthorName(key=family, first=None, family=family)
    first = given[0] if len(given[0]) > 1 else None
    return AuthorName(key=f"{given[0][0]} {family}", first=first, family=family)


def author_key(name: str) -> str | None:
    found = parse_name(name)
    return found.key if found else None


def same_author(a: str, b: str) -> bool:
    """Whether two written names are taken for one author (rule 5)."""
    x, y = parse_name(a), parse_name(b)
    return x is not None and y is not None and x.same_author(y)


class NameIndex:
    """Names to match others against by rule 5 (say, the authors of a reader's liked
    papers), each known name numbered once by its identity: the full form, or the key for
    a name in initials. A look-up reads the names of one key, not every pair."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.ids: dict[str, int] = {}
        self._by_key: dict[str, list[int]] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> int | None:
        """The number of this name's identity (None for a name with no letters)."""
        found = parse_cached(name)
        if found is None:
            return None
        if found.full not in self.ids:
            self.ids[found.full] = len(self.ids)
            self._by_key.setdefault(found.key, []).append(self.ids[found.full])
        return self.ids[found.full]

    def matches(self, name: str) -> list[int]:
        """The known identities rule 5 takes `name` for."""
        found = parse_cached(name)
        if found is None:
            return []
        if found.initials_only:  # Y. LeCun: Yann LeCun, Yves LeCun and Y. LeCun
            return self._by_key.get(found.key, [])
        # Yann LeCun: Yann LeCun, and Y. LeCun (whose identity is the key)
        return [self.ids[f] for f in (found.full, found.key) if f in self.ids]


# Names recur: ingest reads every author of every paper (585,648 names in the 104k
# snapshot, 229,404 distinct; half are found here), For you and its evaluation read the
# same names many times.
parse_cached = functools.lru_cache(maxsize=100_000)(parse_name)
