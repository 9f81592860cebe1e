"""Reference-manager formats, out and in: RIS and CSL-JSON written for papers (BibTeX is
services/cite.py), and BibTeX, RIS and CSL-JSON read back as `Reference`s, what an
import needs to recognize a paper (arXiv eprint, URLs, DOI, title).

An imported file is hostile input. It is refused as a whole, with one clear line, when it
is not UTF-8 text, holds a NUL or another character no store accepts, or is not one of
the three formats; a single bad entry (braces nested too deep, an entry never closed, a
field too long, a LaTeX command outside cite.py's allow-list, which is how \\input or
\\write18 arrive) is reported with its place and the others are read. Every loop is
bounded by the file's size (the caller caps that), nothing recurses on the input's
nesting, and the values read are only ever matched against the store, never compiled.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from paperfeed.errors import ActionError
from paperfeed.records import MAX_TITLE_CHARS, forbidden_text_reason
from paperfeed.services.cite import (
    SAFE_COMMANDS,
    SAFE_SYMBOLS,
    bibtex_many,
    citation_key,
    year_of,
)
from paperfeed.services.paper_views import PaperView

Format = Literal["bibtex", "ris", "csl-json"]
FORMATS: tuple[Format, ...] = ("bibtex", "ris", "csl-json")
RIS_MEDIA_TYPE = "application/x-research-info-systems; charset=utf-8"
CSL_JSON_MEDIA_TYPE = "application/vnd.citationstyles.csl+json; charset=utf-8"

MAX_ENTRIES = 10_000
MAX_BRACE_DEPTH = 16
# A field worth reading is short; an abstract may be long but is never read.
MAX_FIELD_CHARS = 20_000
# What an import reads of a LaTeX value: the typesetting allow-list, plus the URL macros
# reference managers write around links.
_IMPORT_COMMANDS = SAFE_COMMANDS | {"url", "href", "path", "nolinkurl"}
_COMMAND = re.compile(r"\\([A-Za-z]+|[^A-Za-z]?)")
_ARXIV_MENTION = re.compile(r"arxiv\s*:\s*([a-z\-.]*/?\d{4}\.?\d{3,5}(?:v\d+)?)", re.I | re.ASCII)
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.I)


class ImportRefused(ActionError):
    """The whole file is refused (400 on the site, one line and exit 1 in the CLI)."""


class EntryError(ValueError):
    """One entry is refused; the rest of the file is read."""


@dataclass
class Reference:
    """What an entry says that can name a paper."""

    place: str  # "entry 3 (line 41, key smith2020)"
    title: str | None = None
    eprint: str | None = None  # an arXiv id as written: 2401.01234v2, arXiv:hep-th/9901001
    urls: list[str] = field(default_factory=list)
    doi: str | None = None


@dataclass
class ParsedFile:
    format: Format
    references: list[Reference]
    refused: list[tuple[str, str]]  # (place, why)


# --- writing ---


def _one_line(text: str | None) -> str:
    text = "".join(c for c in (text or "") if unicodedata.category(c) != "Cc" or c in "\t\n")
    return " ".join(text.split())


def _name_parts(name: str) -> tuple[str, str] | None:
    """(family, given) of "Given Family" (arXiv's order); None for a one-word name."""
    words = _one_line(name).split(" ")
    if len(words) < 2:
        return None
    return words[-1], " ".join(words[:-1])


def ris(paper: PaperView) -> str:
    """One RIS record: a generic (GEN) reference with the arXiv id, abstract page and DOI."""
    lines = [("TY", "GEN"), ("TI", paper.title)]
    for author in paper.authors:
        parts = _name_parts(author)
        lines.append(("AU", f"{parts[0]}, {parts[1]}" if parts else author))
    if year := year_of(paper):
        lines.append(("PY", year))
    if paper.published_at:
        lines.append(("DA", paper.published_at.strftime("%Y/%m/%d")))
    lines += [("AB", paper.abstract), ("UR", paper.abs_url), ("AN", f"arXiv:{paper.arxiv_id}")]
    if paper.doi:
        lines.append(("DO", paper.doi))
    if paper.journal_ref:
        lines.append(("JO", paper.journal_ref))
    lines += [("KW", c) for c in paper.categories]
    lines.append(("ER", ""))
    return "".join(f"{tag}  - {_one_line(value)}\n" for tag, value in lines)


def ris_many(found: list[PaperView]) -> str:
    return "\n".join(ris(p) for p in found)


def _unique_keys(found: list[PaperView]) -> list[str]:
    seen: dict[str, int] = {}
    keys = []
    for paper in found:
        key = citation_key(paper)
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key}{seen[key]}")
    return keys


def csl_item(paper: PaperView, key: str) -> dict[str, Any]:
    """A CSL-JSON item as Zotero writes an arXiv preprint: type article, number arXiv:id."""
    authors: list[dict[str, str]] = []
    for name in paper.authors:
        parts = _name_parts(name)
        authors.append({"family": parts[0], "given": parts[1]} if parts else {"literal": name})
    item: dict[str, Any] = {
        "id": key,
        "type": "article",
        "title": _one_line(paper.title),
        "author": authors,
        "abstract": _one_line(paper.abstract),
        "URL": paper.abs_url,
        "number": f"arXiv:{paper.arxiv_id}",
        "publisher": "arXiv",
        "genre": "preprint",
    }
    if paper.published_at:
        moment = paper.published_at
        item["issued"] = {"date-parts": [[moment.year, moment.month, moment.day]]}
    elif year := year_of(paper):
        item["issued"] = {"date-parts": [[int(year)]]}
    if paper.doi:
        item["DOI"] = _one_line(paper.doi)
    if paper.journal_ref:
        item["container-title"] = _one_line(paper.journal_ref)
    return item


def csl_json_many(found: list[PaperView]) -> str:
    keys = _unique_keys(found)
    items = [csl_item(p, k) for p, k in zip(found, keys, strict=True)]
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def write_references(found: list[PaperView], fmt: Format) -> str:
    """Papers as a file in one of the three formats."""
    return {"bibtex": bibtex_many, "ris": ris_many, "csl-json": csl_json_many}[fmt](found)


# --- reading ---


def _plain(value: str, name: str) -> str:
    """A LaTeX field value as text to match on: allow-listed commands dropped (accents
    leave their letter), braces gone. A command outside the allow-list refuses the entry."""
    for match in _COMMAND.finditer(value):
        command = match.group(1)
        allowed = _IMPORT_COMMANDS if command[:1].isalpha() else SAFE_SYMBOLS
        if command and command not in allowed:
            raise EntryError(f"{name}: the LaTeX command \\{command[:40]} is not accepted")
    text = _COMMAND.sub(lambda m: m.group(1) if m.group(1) in "&%#$_{}" else "", value)
    return " ".join(text.replace("{", "").replace("}", "").split())


def _checked(value: str, name: str) -> str:
    if len(value) > MAX_FIELD_CHARS:
        raise EntryError(f"{name} is longer than {MAX_FIELD_CHARS:,} characters")
    return value


def _reference(place: str, fields: dict[str, str], latex: bool) -> Reference:
    """A Reference from an entry's fields (names in lower case); `latex`: values are
    BibTeX's, to be read through the allow-list."""

    def text(name: str) -> str | None:
        value = fields.get(name)
        if value is None:
            return None
        value = _checked(value, name)
        return (_plain(value, name) if latex else " ".join(value.split())) or None

    title = text("title")
    if title is not None and len(title) > MAX_TITLE_CHARS:
        raise EntryError(f"title is longer than {MAX_TITLE_CHARS:,} characters")
    eprint = None
    archive = (text("archiveprefix") or text("eprinttype") or "arxiv").lower()
    if archive == "arxiv":
        eprint = text("eprint")
    for name in ("note", "number", "howpublished", "journal", "an", "m1", "n1"):
        mention = _ARXIV_MENTION.search(text(name) or "")
        if eprint is None and mention:
            eprint = mention.group(1)
    urls = [u for name in ("url", "l1", "l2", "lk", "howpublished") if (u := text(name))]
    return Reference(place, title=title, eprint=eprint, urls=urls, doi=text("doi"))


def arxiv_id_of_doi(doi: str) -> str | None:
    """arXiv's own DOIs (10.48550/arXiv.2401.01234) name the paper."""
    match = _ARXIV_DOI.match(doi.strip())
    return match.group(1) if match else None


def normalized_title(title: str) -> str:
    """Titles compared without case, accents, punctuation or spacing."""
    decomposed = unicodedata.normalize("NFKD", title)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.findall(r"[^\W_]+", letters.casefold()))


def _line_of(text: str, offset: int, lines: list[int]) -> int:
    """1-based line of `offset`, given the offsets where lines start (bisected)."""
    low, high = 0, len(lines)
    while low + 1 < high:
        middle = (low + high) // 2
        if lines[middle] <= offset:
            low = middle
        else:
            high = middle
    return low + 1


_ENTRY_START = re.compile(r"@[ \t]*([A-Za-z]+)[ \t\r\n]*([{(])")
_NEXT_ENTRY = re.compile(r"\n[ \t]*@")
_FIELD_NAME = re.compile(r"[ \t\r\n,]*([A-Za-z][\w\-:.+]*)[ \t\r\n]*=[ \t\r\n]*")


def _group_end(text: str, start: int, limit: int) -> int:
    """Where the brace group opened at text[start] closes (the index after it)."""
    depth = 0
    for index in range(start, limit):
        char = text[index]
        if char == "{":
            depth += 1
            if depth > MAX_BRACE_DEPTH:
                raise EntryError(f"braces nested deeper than {MAX_BRACE_DEPTH}")
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    raise EntryError("a brace is never closed")


def _entry_end(text: str, start: int, closer: str) -> int:
    """The index of the entry's closing brace or parenthesis (`start` is after the
    opener): braces must balance inside, quotes hold no unbalanced brace."""
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
            if depth > MAX_BRACE_DEPTH:
                raise EntryError(f"braces nested deeper than {MAX_BRACE_DEPTH}")
        elif char == "}":
            if depth == 0 and closer == "}":
                return index
            depth -= 1
            if depth < 0:
                raise EntryError("a closing brace with no opening one")
        elif char == ")" and depth == 0 and closer == ")":
            return index
        elif char == "@" and depth == 0 and text[index - 1] == "\n":
            break  # the next entry starts: this one was never closed
    raise EntryError("the entry is never closed")


def _bibtex_fields(body: str) -> tuple[str, dict[str, str]]:
    """The key and fields (names in lower case) of an entry's body."""
    key, comma, rest = body.partition(",")
    if not comma and "=" in key:
        raise EntryError("the entry has no citation key")
    fields: dict[str, str] = {}
    position = 0
    while position < len(rest):
        name = _FIELD_NAME.match(rest, position)
        if name is None:
            if rest[position:].strip(" \t\r\n,"):
                raise EntryError(f"cannot read a field at {rest[position : position + 30]!r}")
            break
        position = name.end()
        parts = []
        while True:  # value = part # part # ...
            if position >= len(rest):
                raise EntryError(f"the field {name.group(1)[:40]} has no value")
            char = rest[position]
            if char == "{":
                end = _group_end(rest, position, len(rest))
                parts.append(rest[position + 1 : end - 1])
            elif char == '"':
                end = position + 1
                depth = 0
                while end < len(rest) and (rest[end] != '"' or depth > 0):
                    depth += {"{": 1, "}": -1}.get(rest[end], 0)
                    end += 1
                if end >= len(rest):
                    raise EntryError(f"the quoted value of {name.group(1)[:40]} never ends")
                parts.append(rest[position + 1 : end])
                end += 1
            else:
                word = re.compile(r"[\w\-.:+/]+").match(rest, position)
                if word is None:
                    raise EntryError(f"the field {name.group(1)[:40]} has no value")
                parts.append(word.group())
                end = word.end()
            position = end
            while position < len(rest) and rest[position] in " \t\r\n":
                position += 1
            if position < len(rest) and rest[position] == "#":
                position += 1
                while position < len(rest) and rest[position] in " \t\r\n":
                    position += 1
                continue
            break
        fields[name.group(1).lower()] = "".join(parts)
    return key.strip(), fields


def parse_bibtex(text: str) -> ParsedFile:
    references: list[Reference] = []
    refused: list[tuple[str, str]] = []
    lines = [0, *(m.end() for m in re.finditer("\n", text))]
    position, number = 0, 0
    while (at := text.find("@", position)) != -1:
        start = _ENTRY_START.match(text, at)
        if start is None:  # an @ in free text between entries, which BibTeX ignores
            position = at + 1
            continue
        kind = start.group(1).lower()
        number += 1
        place = f"entry {number} (line {_line_of(text, at, lines)})"
        if number > MAX_ENTRIES:
            raise ImportRefused(f"more than {MAX_ENTRIES:,} entries: split the file")
        try:
            end = _entry_end(text, start.end(), "}" if start.group(2) == "{" else ")")
        except EntryError as exc:
            refused.append((place, str(exc)))
            following = _NEXT_ENTRY.search(text, start.end())
            position = following.start() + 1 if following else len(text)
            continue
        position = end + 1
        if kind in ("comment", "preamble", "string"):
            number -= 1
            continue
        try:
            key, fields = _bibtex_fields(text[start.end() : end])
            place = f"entry {number} (line {_line_of(text, at, lines)}, key {key[:60]})"
            references.append(_reference(place, fields, latex=True))
        except EntryError as exc:
            refused.append((place, str(exc)))
    return ParsedFile("bibtex", references, refused)


_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")


def parse_ris(text: str) -> ParsedFile:
    references: list[Reference] = []
    refused: list[tuple[str, str]] = []
    fields: dict[str, str] | None = None
    place = ""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _RIS_LINE.match(line.rstrip())
        if match is None:
            continue  # blank lines, and wrapped continuation lines nobody writes now
        tag, value = match.group(1), (match.group(2) or "").strip()
        if tag == "TY":
            if fields is not None:
                refused.append((place, "the record has no ER line"))
            if len(references) + len(refused) >= MAX_ENTRIES:
                raise ImportRefused(f"more than {MAX_ENTRIES:,} records: split the file")
            fields = {}
            place = f"record {len(references) + len(refused) + 1} (line {number})"
        elif fields is None:
            continue
        elif tag == "ER":
            try:
                references.append(_reference(place, fields, latex=False))
            except EntryError as exc:
                refused.append((place, str(exc)))
            fields = None
        else:
            name = {"TI": "title", "T1": "title", "DO": "doi", "UR": "url"}.get(tag, tag.lower())
            if name == "url" and "url" in fields:
                name = "lk"
            if name not in fields:
                fields[name] = value
    if fields is not None:
        refused.append((place, "the record has no ER line"))
    return ParsedFile("ris", references, refused)


def parse_csl_json(text: str) -> ParsedFile:
    try:
        data = json.loads(text)
    except RecursionError:
        raise ImportRefused("the JSON is nested too deeply") from None
    except ValueError as exc:
        raise ImportRefused(f"not valid JSON: {exc}") from None
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ImportRefused("CSL-JSON is a list of items (objects)")
    if len(items) > MAX_ENTRIES:
        raise ImportRefused(f"more than {MAX_ENTRIES:,} items: split the file")
    references: list[Reference] = []
    refused: list[tuple[str, str]] = []
    for number, item in enumerate(items, start=1):
        place = f"item {number}"
        if not isinstance(item, dict):
            refused.append((place, "not an object"))
            continue
        if isinstance(item.get("id"), str | int):
            place = f"item {number} (id {str(item['id'])[:60]})"
        fields = {}
        try:
            for name, key in (("title", "title"), ("doi", "DOI"), ("url", "URL")):
                fields.update(_csl_text(item, key, name))
            fields.update(_csl_text(item, "number", "number"))
            fields.update(_csl_text(item, "archive_location", "note"))
            references.append(_reference(place, fields, latex=False))
        except EntryError as exc:
            refused.append((place, str(exc)))
    return ParsedFile("csl-json", references, refused)


def _csl_text(item: dict[str, Any], key: str, name: str) -> dict[str, str]:
    value = item.get(key)
    if value is None:
        return {}
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise EntryError(f"{key} is not text")
    return {name: value}


def detect_format(text: str) -> Format:
    head = text.lstrip(" \t\r\n")[:1]
    if head in ("[", "{"):
        return "csl-json"
    if re.search(r"^TY  -", text, re.M):
        return "ris"
    if _ENTRY_START.search(text):
        return "bibtex"
    raise ImportRefused("not a BibTeX, RIS or CSL-JSON file")


def parse_references(data: bytes, fmt: Format | None = None) -> ParsedFile:
    """Reads an uploaded file (already size-capped by the caller)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"the file is not UTF-8 text (byte {exc.start})") from None
    reason = forbidden_text_reason(text)
    if reason:
        raise ImportRefused(f"the file {reason}: it is refused")
    text = text.removeprefix("\ufeff")  # the byte-order mark some Windows tools write
    fmt = fmt or detect_format(text)
    parse = {"bibtex": parse_bibtex, "ris": parse_ris, "csl-json": parse_csl_json}[fmt]
    parsed = parse(text)
    if not parsed.references and not parsed.refused:
        raise ImportRefused(f"no entries found in this {fmt} file")
    return parsed
