"""Fuzzing the read side: the query parser, the analyzer, the highlighter and the whole
search path (SearchService on a real small index, both engines). Never an exception:
results or nothing, and QueryError only for input over a documented limit. Everything a
reader sees is escaped, with only our own <mark> tags."""

from __future__ import annotations

import html
import re
import shutil

import pytest
from hypothesis import given, strategies as st

from indexer.build import Indexer
from search import analysis
from search.highlight import Highlighter, SnippetText
from search.query import ParsedQuery, clean, parse
from search.results import QueryError, SearchRequest
from search.service import SearchService
from tests.conftest import SAMPLE, make_settings, write_jsonl
from tests.reliability.fuzzing import budget, count

# Articles whose text is full of markup, so escaping is exercised by every search.
MARKUP_ARTICLES = [
    {"id": "markup-1", "title": "<script>alert(1)</script> ketamine & <b>naloxone</b>",
     "body": "Ketamine <img src=x onerror=alert(1)> and \"quotes\" & 'apostrophes' <mark>not ours</mark>.",
     "category": "<i>Treatment</i>", "tags": ["<svg onload=alert(1)>", "a&b"]},
    {"id": "markup-2", "title": "Overdose </mark><script>x</script> signs",
     "summary": "Overdose &amp; naloxone > opioids < fentanyl", "body": "Overdose overdose naloxone.",
     "category": "Harm reduction"},
]

WORDS = ("ketamine", "ketamin", "molly", "weed", "overdose", "naloxone", "alcohol", "calories", "the", "and",
         "special", "k", "canna", "cannabis", "therapy", "liver", "cbd", "thc", "script", "mark", "naïve", "café",
         "Ketamine's", "don't", "x" * 300)
OPERATORS = ('"', "-", "--", "*", "**", ":", "(", ")", "OR", "AND", "NOT", "\u201c", "\u201d", "\u00ab",
             "category:", "cat:", "tag:", "tags:", "-category:", "-tag:", "category:cannabis", "tag:edibles",
             "title:", "http://x.org/a?b=c", "<", ">", "&", "<mark>", "</mark>", "<script>", "\\", "'", "%", "_",
             "\u200b", "\u202e", "\ufeff", "\x00", "\n", "\t", "🙂", "中文", "עברית", "ǅ", "ﬁ", "\u0301")
token = st.one_of(st.sampled_from(WORDS), st.sampled_from(OPERATORS), st.text(max_size=12),
                  st.text(alphabet=st.characters(categories=["L", "M", "N"]), min_size=1, max_size=20))
structured = st.tuples(st.lists(token, max_size=40), st.sampled_from([" ", "", "  ", "\t"])).map(
    lambda t: t[1].join(t[0]))
any_text = st.text(max_size=300)
with_surrogates = st.text(alphabet=st.characters(exclude_categories=()), max_size=100)
near_limit = st.integers(990, 1010).flatmap(lambda n: st.text(alphabet="ab cd\"-*", min_size=n, max_size=n))
queries = st.one_of(any_text, structured, structured, with_surrogates, near_limit)
labels = st.lists(st.one_of(st.sampled_from(["cannabis", "treatment", "Harm Reduction", "edibles", ""]), st.text(max_size=20)),
                  max_size=3).map(tuple)
requests = st.builds(
    SearchRequest, q=queries, categories=labels, tags=labels,
    sort=st.sampled_from(["relevance", "date", "", "DATE", "random"]),
    page=st.one_of(st.integers(1, 3), st.integers(-2, 110)),
    per_page=st.one_of(st.integers(1, 20), st.integers(-2, 60)),
    exact=st.booleans(), facets=st.booleans(),
)

_MARK = re.compile(r"</?mark>")


def assert_escaped_with_marks(marked: str, plain: str | None = None) -> None:
    """Only <mark> tags, balanced; everything else escaped; the text itself unchanged."""
    tags = _MARK.findall(marked)
    assert tags == ["<mark>", "</mark>"] * (len(tags) // 2), marked
    rest = _MARK.sub("", marked)
    assert "<" not in rest and ">" not in rest, marked
    assert '"' not in rest and "'" not in rest, marked
    if plain is not None:
        assert html.unescape(rest) == plain, (marked, plain)


@pytest.fixture(scope="module", params=["whoosh", "tantivy"])
def fuzz_service(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    # A generous deadline: a search stopped by it is a 503 by design (test_query_budget.py),
    # and this machine may be busy.
    settings = make_settings(root, engine=request.param, search_timeout=60.0)
    Indexer(settings).build([SAMPLE, write_jsonl(root / "markup.jsonl", MARKUP_ARTICLES)])
    service = SearchService(settings)
    yield service
    service.close()
    shutil.rmtree(root, ignore_errors=True)


def over_limit(settings, request: SearchRequest) -> bool:
    parsed = parse(request.q)
    return (len(request.q) > settings.search_max_query_chars
            or not 1 <= request.per_page <= settings.search_max_page_size
            or not 1 <= request.page <= settings.search_max_page
            or request.sort not in ("relevance", "date")
            or len(parsed.phrases) > settings.search_max_phrases
            or len(parsed.excluded) > settings.search_max_exclusions)


@budget(1.0)
@given(request=requests)
def test_search_path_never_fails(fuzz_service, request):
    count(f"search path ({fuzz_service.settings.engine})")
    settings = fuzz_service.settings
    if over_limit(settings, request):
        with pytest.raises(QueryError):
            fuzz_service.search(request)
        return
    response = fuzz_service.search(request)
    assert response.total >= 0 and response.pages >= 1
    # Query rules pin articles on page 1 on top of the page (search/rules.py).
    assert len([h for h in response.hits if not h.pinned]) <= request.per_page
    assert all(h.pinned for h in response.hits[:sum(h.pinned for h in response.hits)])
    assert response.version == fuzz_service.version()
    for hit in response.hits:
        assert_escaped_with_marks(hit.title_html, hit.title)
        assert_escaped_with_marks(hit.snippet_html)
    for facets in response.facets.values():
        assert all(f.count >= 0 for f in facets)


@budget(0.3)
@given(prefix=queries, article_id=st.one_of(st.text(max_size=50), st.sampled_from(["markup-1", "molly-mdma"])))
def test_suggest_and_related_never_fail(fuzz_service, prefix, article_id):
    count(f"suggest and related ({fuzz_service.settings.engine})")
    if len(prefix) > fuzz_service.settings.search_max_query_chars:  # refused like a search
        with pytest.raises(QueryError):
            fuzz_service.suggest(prefix)
    else:
        suggestions = fuzz_service.suggest(prefix)
        assert all(s.kind in ("article", "query") and isinstance(s.text, str) for s in suggestions)
    related = fuzz_service.related(article_id)
    assert related is None or all(item.id != article_id for item in related)


@budget(1.0)
@given(text=queries)
def test_query_parser_accepts_anything(text):
    count("query parser")
    cleaned = clean(text)
    assert clean(cleaned) == cleaned
    parsed = parse(text)
    assert isinstance(parsed, ParsedQuery)
    for name in ("words", "phrases", "excluded", "prefixes", "categories", "tags", "not_categories", "not_tags"):
        values = getattr(parsed, name)
        assert isinstance(values, tuple) and all(isinstance(v, str) and v for v in values), (name, values)
    for key in parsed.categories + parsed.tags + parsed.not_categories + parsed.not_tags:
        assert re.fullmatch(r"[0-9a-z]+(-[0-9a-z]+)*", key), key
    assert isinstance(parsed.text(), str)


@budget(1.0)
@given(text=st.one_of(any_text, structured, with_surrogates))
def test_analyzer_spans_and_terms_are_consistent(text):
    count("analyzer")
    tokens = analysis.tokens(text)
    previous_end = 0
    for position, token in enumerate(tokens):
        assert token.position == position
        assert previous_end <= token.start < token.end <= len(text)
        previous_end = token.end
        assert token.term == analysis.stem(token.surface) and token.surface not in analysis.STOP_WORDS
    assert analysis.analyze(text) == [t.term for t in tokens]
    assert all(isinstance(w, str) and w for w in analysis.words(text))
    assert isinstance(analysis.fold(text), str)


@budget(1.0)
@given(text=st.one_of(any_text, structured), query=st.one_of(structured, st.sampled_from(WORDS)))
def test_highlighter_escapes_everything_but_its_marks(text, query):
    count("highlighter")
    terms = set(analysis.analyze(query))
    words = {w: analysis.stem(w) for w in analysis.words(query) if analysis.stem(w) in terms}
    highlighter = Highlighter(words)
    assert_escaped_with_marks(highlighter.highlight(SnippetText.whole(text)), text.strip())
    assert_escaped_with_marks(highlighter.snippet(SnippetText.of(text)))
