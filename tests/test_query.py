"""The query language parser never fails and understands its syntax."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from search.query import parse


def test_full_syntax():
    parsed = parse('"special k" -alcohol -"hang over" canna* category:Cannabis tag:"harm reduction" -cat:news weed')
    assert parsed.words == ("weed",)
    assert parsed.phrases == ("special k",)
    assert parsed.excluded == ("alcohol", "hang over")
    assert parsed.prefixes == ("canna",)
    assert parsed.categories == ("cannabis",) and parsed.tags == ("harm-reduction",)
    assert parsed.not_categories == ("news",)


def test_forgiving_input():
    assert parse('"unbalanced quote').phrases == ("unbalanced quote",)
    assert not parse('- * -- " "').has_terms
    assert parse("ratio:1 http://x").words == ("ratio 1", "http //x")
    assert parse("weed\x00\x07calories").words == ("weed", "calories")
    assert parse("“curly quotes”").phrases == ("curly quotes",)


def test_canonical_text_round_trips():
    query = 'weed "special k" canna* -alcohol category:cannabis tag:edibles'
    assert parse(parse(query).text()) == parse(query)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_parse_accepts_any_string(text):
    parsed = parse(text)
    assert isinstance(parsed.text(), str)
