"""Escaping and page furniture shared by every report page (run, selective, findings).

Why one module: each page reads strings from files it did not write (retriever specs,
selector names, claim titles) and must escape them the same way, and the pages share
one look (`CSS`: inline, no scripts, no external URLs, so a page can be mailed or opened
from disk). Keeping the escaping in one place means a fix reaches every page at once.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence

CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
img{max-width:100%;display:block;margin:1rem 0}.note{color:#555;font-size:.9rem}
.warn{background:#fff4e5;border-left:4px solid #e69500;padding:.4rem .8rem}"""


def md(text: object) -> str:
    """Escaped for Markdown: HTML entities, then the characters that make tables, links,
    code; line breaks become spaces so that a value cannot end a table row."""
    escaped = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    return re.sub(r"([\\`*\[\]|])", r"\\\1", escaped)


def h(text: object) -> str:
    """Escaped for HTML text and attribute values."""
    return html.escape(str(text))


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table of plain strings, all escaped here; first column left, others numeric."""
    head = "".join(f"<th>{h(x)}</th>" for x in header)
    body = "".join("<tr>" + "".join(f"<td{' class=num' if i else ''}>{h(c)}</td>" for i, c in enumerate(row))
                   + "</tr>\n" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def img(title: str, png: bytes) -> str:
    """A PNG inlined as a data URI: the page stays one self-contained file."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{h(title)}" src="data:image/png;base64,{data}">'


def document(title: str, body: str, css: str = CSS) -> str:
    """A whole HTML page: `title` (escaped here) in the head, `body` as given."""
    return (f"<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
            f"<title>{h(title)}</title>\n<style>\n{css}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")
