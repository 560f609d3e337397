"""Reader events (clicks, widget views): what one may hold, declared once. The API validates
events with EVENT_FIELDS and the OpenAPI document's Event schema is made from it."""

from __future__ import annotations

from search.article import MAX_ID_CHARS
from search.fields import Choice, Identifier, Integer, InvalidRecord, Listing, Record, Text

MAX_EVENT_BYTES = 4096
MAX_TARGETS = 20  # related articles one widget impression lists
MAX_POSITION = 1000
EVENT_TYPES = ("result_click", "widget_impression", "widget_click")


class InvalidEvent(InvalidRecord):
    """An event the API refuses (HTTP 400); the message says which field and why."""


EVENT_FIELDS = Record(
    {
        "type": Choice(EVENT_TYPES),
        "query": Text(MAX_EVENT_BYTES, numbers=False),  # result clicks: the query searched
        "source": Identifier(MAX_ID_CHARS, optional=True),  # widget events: the article showing it
        "target": Identifier(MAX_ID_CHARS, optional=True),  # clicks: the article clicked
        "position": Integer(1, MAX_POSITION),  # clicks: 1-based
        "targets": Listing(Identifier(MAX_ID_CHARS), MAX_TARGETS, comma_separated=False),  # impressions
    },
    required=("type",),
    error=InvalidEvent,
)
