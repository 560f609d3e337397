"""Related lists as stored: each entry, and the list as the bytes readers are sent, made when
the list is computed (a build or an upsert), so that serving one is a lookup: the JSON items
of the API and the list items of the iframe widget, each cut to any length by the stored end
offsets of its items.

Links to this site are stored root-relative, so `site_url` can change without a rebuild;
`absolute()` gives them the host when they are served, with one bytes.replace.
"""

from __future__ import annotations

import array
import hashlib
import json
from dataclasses import dataclass
from html import escape
from typing import Iterable, Iterator, Mapping, Sequence

from search.article import Article
from search.links import article_href, image_href
from search.teaser import teaser

_JSON_LINKS = (b'"url":"/', b'"image":"/')
_HTML_LINKS = (b'href="/',)


@dataclass(frozen=True, slots=True)
class RelatedEntry:
    id: str
    score: float
    kind: str  # "similar", "pinned" or "fallback"
    why: tuple[str, ...] = ()

    def to_json(self) -> list:
        return [self.id, round(self.score, 5), self.kind, list(self.why)]

    @classmethod
    def from_json(cls, item: list) -> "RelatedEntry":
        return cls(item[0], float(item[1]), item[2], tuple(item[3]))


@dataclass(frozen=True)
class RelatedPayload:
    items: bytes  # the JSON objects of the list's items, comma-separated
    ends: bytes  # uint32: where each item (and its comma) ends in `items`
    html: bytes  # the widget's <li> of each item
    html_ends: bytes  # uint32: where each <li> ends in `html`
    digest: str  # of everything above: changes whenever what readers see changes

    def count(self) -> int:
        return len(self.ends) // 4

    def json_items(self, limit: int) -> bytes:
        """The first `limit` items as a JSON array."""
        return b"[" + _cut(self.items, self.ends, limit).rstrip(b",") + b"]"

    def api_body(self, article_id: str, limit: int, base: str) -> bytes:
        """The related API's answer: `{"id": ..., "related": [the first `limit` items]}`, its
        links made absolute against `base`."""
        items = absolute(self.json_items(limit), base)  # stored root-relative
        return b'{"id":' + json.dumps(article_id, ensure_ascii=False).encode() + b',"related":' + items + b"}"

    def html_items(self, limit: int) -> bytes:
        return _cut(self.html, self.html_ends, limit)

    def entries(self, limit: int) -> list[dict]:
        return json.loads(self.json_items(limit))


def _cut(data: bytes, ends: bytes, limit: int) -> bytes:
    offsets = memoryview(ends).cast("I")
    if limit <= 0 or not offsets:
        return b""
    return data[: offsets[min(limit, len(offsets)) - 1]]


def absolute(rendered: bytes, base: str, html: bool = False) -> bytes:
    """Root-relative links in rendered JSON (or HTML) made absolute against `base`
    ('https://host/'). Escaping leaves no quote inside a value, so the keys below only ever
    start a link."""
    prefix = base.rstrip("/").encode()
    for key in _HTML_LINKS if html else _JSON_LINKS:
        rendered = rendered.replace(key, key[:-1] + prefix + b"/")
    return rendered


def entries_json(entries: Sequence[RelatedEntry]) -> str:
    """A list's entries as the store keeps them."""
    return json.dumps([e.to_json() for e in entries], ensure_ascii=False)


@dataclass(frozen=True)  # no slots: frozen slotted dataclasses pickle field by field, slowly
class ItemCard:
    """What every list showing an article repeats of it, made once per article and build
    (a build shows each article in about k lists): its JSON members before and after the
    entry's own (score, kind, why), and its widget link and text, escaped."""

    id: str
    json_head: str
    json_tail: str
    href: str
    html_text: str

    @classmethod
    def of(cls, article: Article, article_links: str, teaser_length: int) -> "ItemCard":
        url = article_href(article.url, article.id, article_links)
        text = teaser(article, teaser_length)
        head = {"id": article.id, "title": article.title, "url": url, "teaser": text}
        tail = {"category": article.category, "published": article.published.isoformat() if article.published else None,
                "image": image_href(article.image)}
        return cls(article.id, _members(head), _members(tail), escape(url),
                   f"<strong>{escape(article.title)}</strong><span>{escape(text)}</span>")


class PackedCards(Mapping[str, ItemCard]):
    """Item cards packed into one UTF-8 buffer and read back one at a time: how a build's
    cards travel to each worker of a cluster and stay there (a third of the memory of one
    object per card, and one buffer to pickle instead of a million strings)."""

    _FIELDS = ("json_head", "json_tail", "href", "html_text")

    def __init__(self, ids: Iterable[str], text: bytes, ends: array.array):
        self._position = {card_id: i for i, card_id in enumerate(ids)}  # in the cards' order
        self._text = text
        self._ends = ends  # uint64: where each card's each field ends in `text`

    @classmethod
    def of(cls, cards: Iterable[ItemCard]) -> "PackedCards":
        ids, parts, ends = [], [], array.array("Q")
        offset = 0
        for card in cards:
            ids.append(card.id)
            for name in cls._FIELDS:
                part = getattr(card, name).encode()
                parts.append(part)
                offset += len(part)
                ends.append(offset)
        return cls(ids, b"".join(parts), ends)

    def __getitem__(self, card_id: str) -> ItemCard:
        first = self._position[card_id] * len(self._FIELDS)
        bounds = [self._ends[first - 1] if first else 0, *self._ends[first:first + len(self._FIELDS)]]
        return ItemCard(card_id, *(self._text[start:end].decode() for start, end in zip(bounds, bounds[1:])))

    def __iter__(self) -> Iterator[str]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)

    def __reduce__(self):
        return PackedCards, (list(self._position), self._text, self._ends)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # made once: a build writes millions


def _members(values: Mapping[str, object]) -> str:
    """A JSON object's members without its braces, as the items are written."""
    return _encode(values)[1:-1]


def render(entries: Sequence[RelatedEntry], cards: Mapping[str, ItemCard]) -> RelatedPayload:
    """The payload of a list; entries without a card (their article is missing) are left out.
    Each item is {id, title, url, teaser, score, kind, why, category, published, image}."""
    items, ends, html, html_ends = bytearray(), array.array("I"), bytearray(), array.array("I")
    for entry in entries:
        card = cards.get(entry.id)
        if card is None:
            continue
        own = _members({"score": entry.score, "kind": entry.kind, "why": list(entry.why)})
        items += f"{{{card.json_head},{own},{card.json_tail}}},".encode()
        ends.append(len(items))
        html += (f'<li><a href="{card.href}" data-kindred-target="{escape(card.id)}" '
                 f'data-position="{len(ends)}">{card.html_text}</a></li>').encode()
        html_ends.append(len(html))
    digest = hashlib.blake2b(bytes(items) + bytes(html), digest_size=12).hexdigest()
    return RelatedPayload(bytes(items), ends.tobytes(), bytes(html), html_ends.tobytes(), digest)
