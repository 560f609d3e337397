"""The Article record and its validation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from search.article import Article, InvalidArticle, slugify


def test_from_mapping_normalizes_fields_and_ignores_unknown_ones():
    article = Article.from_mapping({
        "id": " x1 ", "title": "  Weed\n and   calories ", "tags": "cannabis, nutrition, cannabis",
        "published": "2024-05-10T08:00:00Z", "unknown": "ignored", "body": "line one\r\nline two",
    })
    assert article.id == "x1" and article.title == "Weed and calories"
    assert article.tags == ("cannabis", "nutrition")
    assert article.published == dt.date(2024, 5, 10)
    assert article.body == "line one\nline two"


@pytest.mark.parametrize("record, message", [
    ({"title": "no id"}, "missing required field 'id'"),
    ({"id": "x"}, "missing required field 'title'"),
    ({"id": "x", "title": "t", "published": "yesterday"}, "ISO date"),
    ({"id": "x", "title": {"nested": 1}}, "must be text"),
    ({"id": "x\ny", "title": "t"}, "control characters"),
    ({"id": "x", "title": "t", "body": "b" * 2_000_001}, "longer than"),
    ([], "expected an object"),
])
def test_invalid_records_say_which_field(record, message):
    with pytest.raises(InvalidArticle, match=message):
        Article.from_mapping(record)


def test_round_trip_through_dict():
    article = Article(id="a", title="T", tags=("x",), published=dt.date(2020, 1, 2), related_pins=("b",))
    assert Article.from_mapping(article.to_dict()) == article
    # The store's trusted path restores the same Article from the JSON it keeps.
    assert Article.from_stored(json.loads(json.dumps(article.to_dict()))) == article
    assert Article.from_stored({"id": "b", "title": "U"}) == Article(id="b", title="U")


def test_slugify_keys():
    assert slugify("Harm Reduction") == "harm-reduction"
    assert slugify("  Café / Bar ") == "cafe-bar"
    assert Article(id="a", title="t", category="Mental Health").category_key == "mental-health"
