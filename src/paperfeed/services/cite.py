"""BibTeX for papers, safe for any title: typesetting commands kept, everything else
made literal.

A .bib file is LaTeX source that someone will compile, so a title is untrusted code. Only
an allow-list of commands that just typeset (accents, Greek letters, math symbols, font
switches) survives; any other command (\\input, \\write18, \\def, \\catcode, \\csname,
\\label, which writes to the .aux file, and everything unknown) is printed as its
literal name, and TeX's ^^5c notation for a backslash is broken up before anything else.
A block-list cannot work: TeX has hundreds of primitives and packages add more.
"""

from __future__ import annotations

import re
import unicodedata

from paperfeed.services.paper_views import PaperView

# Commands that only put glyphs or structure on the page, whatever their arguments: they
# cover what titles and author names in the shared arXiv and Hugging Face data use.
_SAFE_COMMAND_NAMES = """
    alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu
    nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma
    Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell hbar imath jmath
    times cdot cdots ldots dots vdots ddots circ star ast bullet pm mp div neq ne le leq ge
    geq ll gg approx sim simeq cong equiv propto infty partial nabla forall exists nexists
    in notin ni subset subseteq supset supseteq cup cap setminus emptyset varnothing wedge
    vee neg lnot oplus otimes odot oslash perp parallel mid dagger ddagger prime
    to rightarrow leftarrow leftrightarrow Rightarrow Leftarrow Leftrightarrow mapsto
    longrightarrow longleftarrow uparrow downarrow nrightarrow circlearrowright
    langle rangle lceil rceil lfloor rfloor vert Vert backslash left right big Big bigg
    sum prod int oint lim sup inf max min log ln exp sin cos tan arg det dim ker Pr
    frac dfrac tfrac sqrt binom hat widehat tilde widetilde bar overline underline vec dot
    ddot acute grave breve check boxed overbrace underbrace quad qquad
    mathbb mathcal mathbf mathrm mathit mathsf mathtt mathfrak mathscr boldsymbol boldmath
    text textrm textit textbf textsf texttt textsc textup textmd textsl emph mbox ensuremath
    rm it bf sf tt sc sl em normalfont
    textsuperscript textsubscript textregistered texttrademark textcopyright textdegree
    textpertenthousand textperthousand textbackslash textbar textasciitilde textendash
    textemdash textquoteleft textquoteright textquotedblleft textquotedblright
    textbraceleft textbraceright
    ss aa AA ae AE oe OE o O l L i j
    c d b u v r k t H
    LaTeX TeX relax
"""
SAFE_COMMANDS = frozenset(_SAFE_COMMAND_NAMES.split())
# Control symbols (a backslash and one non-letter) that only typeset: accents, escaped
# specials, spacing, line breaks, math delimiters.
SAFE_SYMBOLS = frozenset("'\"`^~=.&%#$_{} ,;:!>-/\\|()[]@*")
# Read left to right as TeX does: a command (a backslash and letters, or a backslash and
# one other character, or a backslash at the end), or a special that must be escaped.
_TOKEN = re.compile(r"\\([A-Za-z]+|[^A-Za-z]?)|([&%#])")
# TeX turns ^^5c (or ^^^^005c) into a backslash while reading input, inside command names
# too; no caret may follow another.
_CARET_PAIR = re.compile(r"\^(?=\^)")
# How a refused command or a lone backslash is printed: a backslash glyph in text and math.
LITERAL_BACKSLASH = r"\ensuremath{\backslash}"
_BRACE = re.compile(r"\\?([{}])")
_BRACE_NAMES = {"{": r"\textbraceleft{}", "}": r"\textbraceright{}"}


def _balanced(text: str) -> bool:
    """BibTeX counts every brace, escaped or not, to find where a field ends."""
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _token(match: re.Match[str]) -> str:
    name, special = match.groups()
    if special:
        return "\\" + special
    allowed = SAFE_COMMANDS if name[:1].isalpha() else SAFE_SYMBOLS
    if name and name in allowed:
        return match.group()
    return LITERAL_BACKSLASH + name


def bibtex_value(text: str) -> str:
    """Text for a braced BibTeX field: allow-listed LaTeX commands ($\\alpha$, \\textbf)
    and balanced groups stay; other commands and lone backslashes become literal text;
    unbalanced braces and & % # are escaped, so that no title can end the field early,
    break the entry, or run code when the .bib is compiled."""
    text = "".join(c for c in text if unicodedata.category(c) != "Cc" or c in "\t\n")
    text = _CARET_PAIR.sub("^{}", text)
    if not _balanced(text):
        # Spelled with braces that pair up only with each other.
        text = _BRACE.sub(lambda m: _BRACE_NAMES[m.group(1)], text)
    text = _TOKEN.sub(_token, text)
    return " ".join(text.split())


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def year_of(paper: PaperView) -> str:
    if paper.published_at:
        return str(paper.published_at.year)
    if paper.announced_date:
        return str(paper.announced_date.year)
    match = re.match(r"(\d{2})\d{2}\.", paper.arxiv_id)
    return f"20{match.group(1)}" if match else ""


def citation_key(paper: PaperView) -> str:
    """lastname + year + first long title word: vaswani2017attention."""
    first_author = paper.authors[0].split() if paper.authors else []
    surname = re.findall(r"[A-Za-z]+", _ascii(first_author[-1])) if first_author else []
    title_words = [w for w in re.findall(r"[A-Za-z]+", _ascii(paper.title)) if len(w) > 3]
    name = surname[0].lower() if surname else "anon"
    return f"{name}{year_of(paper)}{title_words[0].lower() if title_words else 'paper'}"


def bibtex(paper: PaperView) -> str:
    fields = [
        ("title", bibtex_value(paper.title)),
        ("author", " and ".join(bibtex_value(a) for a in paper.authors) or "Anonymous"),
        ("year", year_of(paper)),
        ("eprint", paper.arxiv_id),
        ("archivePrefix", "arXiv"),
        ("primaryClass", bibtex_value(paper.primary_category or "")),
        ("url", paper.abs_url),
    ]
    if paper.doi:
        fields.append(("doi", bibtex_value(paper.doi)))
    if paper.journal_ref:
        fields.append(("journal", bibtex_value(paper.journal_ref)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@misc{{{citation_key(paper)},\n{body}\n}}\n"


def bibtex_many(found: list[PaperView]) -> str:
    """Several entries; a repeated key gets a number: smith2025deep, smith2025deep2."""
    seen: dict[str, int] = {}
    entries = []
    for paper in found:
        entry, key = bibtex(paper), citation_key(paper)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            entry = entry.replace(f"@misc{{{key},", f"@misc{{{key}{seen[key]},", 1)
        entries.append(entry)
    return "\n".join(entries)
