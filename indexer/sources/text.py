"""HTML -> clean text with paragraph breaks, shared by the HTML, WXR and Markdown readers.

Headings and list items keep a light mark ("## " and "- ", see search.article.blocks) so
article pages can show them as such; analysis ignores the marks.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Content that is never article text.
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "canvas", "video", "audio", "form", "button", "select", "textarea", "input", "-comment",
})
# Elements whose boundaries end a paragraph.
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul",
})
# WordPress shortcodes like [caption id="x"] ... [/caption] or [gallery ids="1,2"].
_SHORTCODE = re.compile(r"\[/?[a-zA-Z][\w-]*(?:\s[^\[\]]*)?/?\]")
_BREAK = "\x00"
_MARKS = {"h1": "## ", "h2": "## ", "h3": "## ", "h4": "## ", "h5": "## ", "h6": "## ", "li": "- "}


def node_text(node: LexborNode) -> str:
    """Readable text of a node: paragraphs separated by blank lines, whitespace tidied."""
    parts: list[str] = []
    # Iterative walk: hostile documents nest deeper than Python's recursion limit.
    stack: list[LexborNode | str] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        for child in reversed(list(item.iter(include_text=True))):
            tag = child.tag
            if tag == "-text":
                stack.append(child.text(deep=False))
            elif tag in SKIP_TAGS:
                continue
            elif tag in BLOCK_TAGS:
                stack.extend((_BREAK + _MARKS.get(tag, ""), child, _BREAK))
            else:
                stack.append(child)
    return tidy("".join(parts).replace(_BREAK, "\n\n"))


def tidy(text: str) -> str:
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    # A mark whose element held no text ("## " alone) is not a paragraph.
    return "\n\n".join(p for p in paragraphs if p and p not in ("##", "-"))


def html_to_text(html: str) -> str:
    """Text of an HTML fragment (WordPress post content, rendered Markdown)."""
    html = _SHORTCODE.sub(" ", html)
    tree = LexborHTMLParser(html)
    return node_text(tree.body) if tree.body is not None else ""
