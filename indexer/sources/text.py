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

# Deeper nesting than any real page has: HTML parsers spend time quadratic in the depth of
# nested block elements (200,000 nested <div>s, a 1 MB file, take lexbor many minutes).
MAX_NESTING = 1000
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                   "source", "track", "wbr", "basefont", "bgsound", "frame", "keygen"})
# Elements a parser closes on its own when the next one opens (<p><p>, <li><li>): they never nest deep.
_SELF_ENDING = frozenset({"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody",
                          "tfoot", "rb", "rt", "rtc", "rp", "colgroup", "caption"})
# HTML ignores the slash in <div/>: it opens a div. (In SVG and MathML <path/> does close.)
_HTML_CONTAINERS = frozenset({
    "a", "abbr", "address", "article", "aside", "b", "bdi", "bdo", "blockquote", "body", "button", "center",
    "cite", "code", "data", "del", "details", "dfn", "dialog", "dir", "div", "dl", "em", "fieldset", "figcaption",
    "figure", "font", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "html", "i", "ins",
    "kbd", "label", "legend", "main", "mark", "menu", "nav", "object", "ol", "pre", "q", "s", "samp", "section",
    "small", "span", "strong", "sub", "summary", "sup", "table", "time", "u", "ul", "var",
})
# Linear time on any input: a tag's attributes never run past the next "<".
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/<>]*)[^<>]*?(/?)>")


class HostileMarkup(ValueError):
    """HTML nested deeper than MAX_NESTING elements: refused before it reaches the parser."""


def check_nesting(html: str) -> None:
    """Raise HostileMarkup when the tags of `html` open more than MAX_NESTING levels deep
    (an upper bound of the parser's tree depth: unclosed tags count as open)."""
    if html.count("<") < MAX_NESTING:
        return
    depth = 0
    for match in _TAG.finditer(html):
        closing, name, self_closing = match.groups()
        name = name.lower()
        if name in _VOID or name in _SELF_ENDING or (self_closing and name not in _HTML_CONTAINERS):
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > MAX_NESTING:
                line = html.count("\n", 0, match.start()) + 1
                raise HostileMarkup(f"HTML nests more than {MAX_NESTING} elements deep (line {line} of the markup)")


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
                stack.extend((_BREAK, child, _BREAK + _MARKS.get(tag, "")))  # popped in reverse
            else:
                stack.append(child)
    return tidy("".join(parts).replace(_BREAK, "\n\n"))


def tidy(text: str) -> str:
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    # A mark whose element held no text ("## " alone) is not a paragraph.
    return "\n\n".join(p for p in paragraphs if p and p not in ("##", "-"))


def html_to_text(html: str) -> str:
    """Text of an HTML fragment (WordPress post content, rendered Markdown); HostileMarkup
    for absurdly deep nesting."""
    html = _SHORTCODE.sub(" ", html)
    check_nesting(html)
    tree = LexborHTMLParser(html)
    return node_text(tree.body) if tree.body is not None else ""
