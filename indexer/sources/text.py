"""Markup -> clean text with paragraph breaks: HTML fragments (WordPress content), whole
HTML pages and Markdown, for the readers.

Headings and list items keep a light mark ("## " and "- ", see search.article.blocks) so
article pages can show them as such; analysis ignores the marks. These functions run in the
markup worker (indexer.sources.isolation), which loads this module alone: it imports
nothing of the package.
"""

from __future__ import annotations

import itertools
import re

from markdown_it import MarkdownIt
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
_markdown = MarkdownIt("commonmark", {"html": True}).enable("table")
# WordPress shortcodes like [caption id="x"] ... [/caption] or [gallery ids="1,2"].
_SHORTCODE = re.compile(r"\[/?[a-zA-Z][\w-]*(?:\s[^\[\]]*)?/?\]")
_BREAK = "\x00"
_MARKS = {"h1": "## ", "h2": "## ", "h3": "## ", "h4": "## ", "h5": "## ", "h6": "## ", "li": "- "}

# Deeper nesting than any real page has: HTML parsers spend time quadratic in the depth of
# nested block elements (200,000 nested <div>s, a 1 MB file, take lexbor many minutes), and
# in the attributes of one element (500,000 of them: more than 5 minutes).
MAX_NESTING = 1000
MAX_ATTRIBUTES = 1000
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                   "source", "track", "wbr", "basefont", "bgsound", "frame", "keygen"})
# Elements a parser closes on its own when the next one opens (<p><p>, <li><li>): they never nest deep.
_SELF_ENDING = frozenset({"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody",
                          "tfoot", "rb", "rt", "rtc", "rp", "colgroup", "caption"})
# A heading opened while a heading is the current element closes that one.
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Only inside SVG and MathML does <x/> close itself: HTML ignores the slash. There, these
# HTML tags close the SVG or MathML around them, and inside these elements is HTML again.
_FOREIGN = ("svg", "math")
_BREAKOUT = frozenset({
    "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed", "h1", "h2", "h3",
    "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby",
    "s", "small", "span", "strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var",
})
_INTEGRATION_POINTS = frozenset({"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"})
# Markup as the HTML tokenizer reads it. A comment ends at the first --> or --!> (<!--> and
# <!---> end at once). In a tag an attribute value is quoted only after "=", and a quoted
# value may hold "<" and ">" (`<div a="<">` is one tag). A comment or tag never closed runs
# to the end of the text, as it does for the tokenizer. Possessive and never failing once
# started: linear time.
_SPACE = "\t\n\f\r "
_ATTRIBUTE = (f"[^{_SPACE}/>][^{_SPACE}/>=]*+"
              f"(?:[{_SPACE}]*+=[{_SPACE}]*+(?:\"[^\"]*+(?:\"|\\Z)|'[^']*+(?:'|\\Z)|[^{_SPACE}>]*+))?+")
_MARKUP = re.compile(f"<!--(?:>|->|.*?--!?>|.*\\Z)|<(/?)([A-Za-z][^{_SPACE}/>]*+)((?:[{_SPACE}/]++|{_ATTRIBUTE})*+)(?:>|\\Z)",
                     re.DOTALL)
_ATTRIBUTES = re.compile(f"[{_SPACE}/]*+{_ATTRIBUTE}")


class HostileMarkup(ValueError):
    """Markup refused before it reaches the parser: nested deeper than MAX_NESTING elements,
    or an element with more than MAX_ATTRIBUTES attributes."""


def check_markup(html: str) -> None:
    """Raise HostileMarkup when `html` opens more than MAX_NESTING elements at once, or gives
    one more than MAX_ATTRIBUTES attributes. (A fast first check with a clear message: the
    parse itself runs under a time and memory limit, `indexer.sources.isolation`.)"""
    if html.count("<") < MAX_NESTING and len(html) < 2 * MAX_ATTRIBUTES:
        return
    elements = _OpenElements()
    for markup in _MARKUP.finditer(html):
        closing, name, attributes = markup.groups()
        if name is None:
            continue  # a comment
        if len(attributes) > 2 * MAX_ATTRIBUTES and _attribute_count(attributes) > MAX_ATTRIBUTES:
            raise HostileMarkup(f"an element has more than {MAX_ATTRIBUTES:,} attributes "
                                f"(line {_line(html, markup.start())} of the markup)")
        if closing:
            elements.close(name.lower())
        elif elements.open(name.lower(), attributes) > MAX_NESTING:
            raise HostileMarkup(f"HTML nests more than {MAX_NESTING:,} elements deep "
                                f"(line {_line(html, markup.start())} of the markup)")


class _OpenElements:
    """The elements a parser holds open, as far as tags alone tell: each is (name, whether
    it is an SVG or MathML element). An end tag closes the nearest open element of its
    name (one that is not open is ignored; </form> closes the form alone); a heading opened
    on a heading closes it; an HTML tag inside SVG or MathML closes the foreign elements
    around it; <x/> closes only there. Shapes only the tree builder follows (formatting
    elements it re-opens) get past it: the markup worker's time limit stops those."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, bool]] = []
        self.counts: dict[str, int] = {}

    def open(self, name: str, attributes: str) -> int:
        """Open `name`; how many elements are open then."""
        if name in _VOID or name in _SELF_ENDING:
            return len(self.stack)
        if self.in_foreign() and name in _BREAKOUT:
            while self.in_foreign():
                self._pop()
        foreign = name in _FOREIGN or self.in_foreign()
        if foreign and _self_closing(attributes):
            return len(self.stack)
        if name in _HEADINGS and self.stack and self.stack[-1][0] in _HEADINGS:
            self._pop()
        self.stack.append((name, foreign))
        self.counts[name] = self.counts.get(name, 0) + 1
        return len(self.stack)

    def close(self, name: str) -> None:
        if not self.counts.get(name):
            return
        if name == "form":  # </form> takes the form alone out, leaving what it holds open
            at = max(i for i, (open_name, _) in enumerate(self.stack) if open_name == "form")
            del self.stack[at]
            self.counts[name] -= 1
            return
        while self._pop() != name:
            pass

    def in_foreign(self) -> bool:
        """Whether the current element is SVG or MathML content (not an integration point)."""
        return bool(self.stack) and self.stack[-1][1] and self.stack[-1][0] not in _INTEGRATION_POINTS

    def _pop(self) -> str:
        name, _ = self.stack.pop()
        self.counts[name] -= 1
        return name


def _attribute_count(attributes: str) -> int:
    return sum(1 for _ in itertools.islice(_ATTRIBUTES.finditer(attributes), MAX_ATTRIBUTES + 1))


def _self_closing(attributes: str) -> bool:
    """Whether a tag ends with "/>" (not a slash ending an unquoted value: `<a href=/x/>`)."""
    if not attributes.endswith("/"):
        return False
    last = 0
    for attribute in _ATTRIBUTES.finditer(attributes):
        last = attribute.end()
    return last < len(attributes)


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


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
    check_markup(html)
    tree = LexborHTMLParser(html)
    return node_text(tree.body) if tree.body is not None else ""


_CONTENT_SELECTORS = ("article", "main", "[role=main]", "body")
# Page furniture, and the byline / post meta line whose author and date <head> already gave.
_BOILERPLATE = ("nav, header, footer, aside, [role=navigation], [role=banner], [role=contentinfo], h1, "
                "address, .byline, .entry-meta, .post-meta")
_TITLE_END = re.compile(r"</title[\s/>]", re.IGNORECASE)
_MARKUP_START = re.compile(r"<[A-Za-z/!]")


def page_fields(text: str, default_id: str) -> dict[str, object]:
    """The article fields of a whole HTML page. Title: og:title, else <title>, else the
    first <h1>. Summary: meta description (or og:description). Body: the page's <article>,
    <main> or [role=main] (else <body>), without navigation, headers, footers, asides,
    bylines and its own <h1>. Id: meta kindred:id, else `default_id`."""
    check_markup(text)
    tree = LexborHTMLParser(text)
    title = tree.css_first("title")
    if title is not None and not _TITLE_END.search(text) and _MARKUP_START.search(title.text()):
        line = text.count("\n", 0, text.lower().find("<title")) + 1
        raise HostileMarkup(f"the <title> opened on line {line} is never closed, so the rest of the page "
                             "would be its text: add </title>")

    def meta(*names: str) -> str | None:
        for name in names:
            node = tree.css_first(f'meta[name="{name}"]') or tree.css_first(f'meta[property="{name}"]')
            if node is not None and (node.attributes.get("content") or "").strip():
                return node.attributes["content"].strip()
        return None

    def text_of(selector: str) -> str | None:
        node = tree.css_first(selector)
        return node.text(deep=True).strip() if node is not None else None

    canonical = tree.css_first('link[rel="canonical"]')
    fields: dict[str, object] = {
        "id": meta("kindred:id") or default_id,
        "title": meta("og:title") or text_of("title") or text_of("h1"),
        "summary": meta("description", "og:description"),
        "category": meta("kindred:category", "article:section"),
        # Open Graph gives one article:tag meta per tag.
        "tags": meta("keywords") or [node.attributes.get("content") or "" for node in
                                     tree.css('meta[property="article:tag"], meta[name="article:tag"]')],
        "author": meta("author", "article:author"),
        "published": meta("article:published_time", "date"),
        "image": meta("og:image"),
        "url": (canonical.attributes.get("href") if canonical is not None else None) or meta("og:url"),
    }
    content = next((node for node in (tree.css_first(s) for s in _CONTENT_SELECTORS) if node is not None), None)
    if content is not None:
        for node in content.css(_BOILERPLATE):
            node.decompose()
        fields["body"] = node_text(content)
    return fields


def markdown_to_text(markdown: str) -> str:
    """Text of a Markdown body: CommonMark with tables and inline HTML, rendered, then read as HTML."""
    return html_to_text(_markdown.render(markdown))


# What the markup worker may be asked to run (indexer.sources.isolation).
ISOLATED = (html_to_text, page_fields, markdown_to_text)
