"""Safe XML parsing for feeds: no entity expansion, no external DTDs, one clear error."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from paperfeed.errors import SourceError


def parse_xml(body: bytes, what: str) -> Element:
    try:
        return SafeET.fromstring(body)
    except ParseError as exc:
        raise SourceError(f"{what}: malformed XML ({exc})") from exc
    except defusedxml.DefusedXmlException as exc:
        raise SourceError(f"{what}: refused unsafe XML ({type(exc).__name__})") from exc


def text_of(element: Element | None, path: str, ns: dict[str, str]) -> str | None:
    """Text of the first child at `path`, or None."""
    if element is None:
        return None
    child = element.find(path, ns)
    return child.text if child is not None and child.text is not None else None
