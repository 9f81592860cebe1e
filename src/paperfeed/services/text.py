"""User-visible text made safe for HTML: abstracts with math, Markdown comments.

Everything that reaches a page goes through nh3 (an allow-list HTML sanitizer) after it
is rendered, so neither hostile metadata nor a crafted comment can add a script, an event
handler or a `javascript:` link, whatever the renderer above it does.
"""

from __future__ import annotations

import html
import re

import nh3
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markupsafe import Markup

MAX_COMMENT_CHARS = 20_000

# $...$ and $$...$$, not across an escaped \$ and not spanning more than a few lines.
_MATH = re.compile(r"(?<!\\)\$\$(.{1,2000}?)(?<!\\)\$\$|(?<!\\)\$(.{1,500}?)(?<!\\)\$", re.S)

_MATHML_TAGS = {
    "math", "mi", "mn", "mo", "mrow", "mfrac", "msub", "msup", "msubsup", "msqrt", "mroot",
    "mtext", "mspace", "mstyle", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mpadded", "mphantom", "menclose", "semantics",
}  # fmt: skip
_MATHML_ATTRIBUTES = {
    "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "width",
    "displaystyle", "accent", "columnalign", "minsize", "maxsize", "movablelimits",
}  # fmt: skip

_COMMENT_TAGS = {
    "p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h3", "h4", "del",
}  # fmt: skip


def _math_rule(state: StateInline, silent: bool) -> bool:
    """`$...$` / `$$...$$` in a comment's text as one math token. Code spans and blocks
    are parsed before they reach this rule, so `$` inside them stays literal."""
    if state.src[state.pos] != "$":
        return False
    match = _MATH.match(state.src, state.pos)
    if match is None:
        return False
    inline = match.group(2)
    after = state.src[match.end() : match.end() + 1]
    if inline is not None and (inline != inline.strip() or after.isdigit()):
        return False  # "$5 and $6": prices, not math (pandoc's rule)
    if not silent:
        token = state.push("math", "", 0)
        token.content = match.group(1) if match.group(1) is not None else match.group(2)
        token.info = "block" if match.group(1) is not None else "inline"
    state.pos = match.end()
    return True


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("strikethrough")
_markdown.inline.ruler.before("escape", "math", _math_rule)
_markdown.add_render_rule(
    "math",
    lambda self, tokens, idx, options, env: _math(tokens[idx].content, tokens[idx].info == "block"),
)


def _math(latex: str, display: bool) -> str:
    try:
        mathml = latex_to_mathml(latex, display="block" if display else "inline")
    except Exception:  # latex2mathml raises many types on malformed input: show the source
        return f"<code>{html.escape(latex)}</code>"
    return nh3.clean(mathml, tags=_MATHML_TAGS, attributes={"*": _MATHML_ATTRIBUTES}, link_rel=None)


def with_math(text: str | None) -> Markup:
    """Plain text with `$...$` math as MathML (rendered natively by browsers, no script)."""
    text = text or ""
    parts: list[str] = []
    last = 0
    for match in _MATH.finditer(text):
        parts.append(html.escape(text[last : match.start()]))
        block, inline = match.group(1), match.group(2)
        parts.append(_math(block if block is not None else inline, display=block is not None))
        last = match.end()
    parts.append(html.escape(text[last:]))
    return Markup("".join(parts))


def web_link(url: str | None) -> bool:
    """Whether an imported link (code, project page) may be a link: http(s) only, so a
    `javascript:` URL in the data stays text."""
    return bool(url) and url.lower().startswith(("https://", "http://"))


def comment_html(markdown: str) -> Markup:
    """A comment's Markdown as sanitized HTML: no raw HTML, links only to http(s)/mailto,
    `$...$` math as MathML (the same path as titles, then the same allow-list)."""
    rendered = _markdown.render(markdown[:MAX_COMMENT_CHARS])
    return Markup(
        nh3.clean(
            rendered,
            tags=_COMMENT_TAGS | _MATHML_TAGS,
            attributes={"a": {"href", "title"}, **dict.fromkeys(_MATHML_TAGS, _MATHML_ATTRIBUTES)},
            url_schemes={"http", "https", "mailto"},
            link_rel="nofollow noopener noreferrer ugc",
        )
    )
