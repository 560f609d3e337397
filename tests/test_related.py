"""Related articles: the model, the blend, editor controls, teasers, incremental updates."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from indexer.build import Indexer
from indexer.related import (Neighbor, RelatedModel, RelatedPolicy, near_duplicates, pairwise_similarity,
                             saturated_tf)
from indexer.related_state import RelatedState, encode_candidates
from search.article import Article
from search.document import IndexDoc
from search.related_lists import ItemCard, PackedCards, RelatedEntry, render
from search.service import SearchService
from search.store import STORE_FILE, Store
from search.versions import Layout
from search.teaser import cut, teaser
from tests.conftest import make_settings, write_jsonl

TODAY = dt.date(2026, 1, 1)


def test_ketamine_therapy_list_is_led_by_ketamine_and_treatment(service):
    items = service.related("ketamine-addiction-treatment", 5)
    assert len(items) == 5
    assert "ketamine" in items[0].id
    assert "ketamine-addiction-treatment" not in [i.id for i in items]
    assert all(i.category != "News" for i in service.related("ketamine-addiction-treatment", 20))
    assert all(i.why for i in items if i.kind == "similar")


def test_model_finds_nearest_neighbours_and_explains_them():
    docs = [IndexDoc.from_article(Article(id=i, title=t, body=b)) for i, t, b in [
        ("a", "Ketamine therapy", "ketamine assisted therapy sessions"),
        ("b", "Ketamine infusions", "ketamine infusion sessions for depression"),
        ("c", "Cannabis edibles", "edibles cannabis thc onset"),
    ]]
    model = RelatedModel(n_candidates=2).fit(docs)
    neighbours = model.neighbors()
    assert neighbours[0][0].id == "b" and "ketamin" in neighbours[0][0].why
    assert all(n.id != "a" for n in neighbours[0])


def test_term_frequency_saturates_sooner_in_short_articles():
    assert saturated_tf(1.0, 50, 0.03) == pytest.approx(1.0)  # one mention counts once at any length
    short, long_ = saturated_tf(np.array([2.0, 4.0, 8.0]), 30, 0.03), saturated_tf(np.array([2.0, 4.0, 8.0]), 3000, 0.03)
    assert list(short) == sorted(short) and list(long_) == sorted(long_)  # more mentions never count less
    assert short[-1] < 2.0  # a 30-term piece saying a word 8 times is barely more about it
    assert long_[-1] > 7.0  # a 3,000-term article coming back to it 8 times is



def test_repeats_count_longer_on_a_site_of_long_articles():
    """The same article, among short pages or among long articles whose words are as common:
    the word it says eight times outweighs the one it says once more on the long-article site."""
    article = IndexDoc("x", ["tryptamine"] * 8 + ["dose"] + [f"x{i}" for i in range(71)], "", (), 0)

    def weight_ratio(filler: int) -> float:
        others = [IndexDoc(f"d{i}", ["tryptamine", "dose"] + [f"d{i}-{j}" for j in range(filler)], "", (), 0)
                  for i in range(9)]
        model = RelatedModel(topic_weight=0).fit([article, *others])
        row = model.matrix_[0]
        return row[0, model.vocabulary_["tryptamine"]] / row[0, model.vocabulary_["dose"]]

    short_site, long_site = weight_ratio(filler=20), weight_ratio(filler=2000)
    assert 1 < short_site  # more mentions never count less
    assert long_site > 1.5 * short_site  # equal idf and length: only the site's median differs


THEMES = {
    "cannabis": "cannabis thc edibles strain smoke joint grower harvest flower trichomes cbd dispensary",
    "opioid": "opioid heroin fentanyl naloxone overdose withdrawal methadone buprenorphine pain pills",
    "alcohol": "alcohol drinking beer wine hangover liver binge units spirits bar",
}


def _theme_docs(n_per_theme=10):
    """Articles on three themes; each says some of its theme's words, some twice."""
    docs = []
    for theme, words in THEMES.items():
        words = words.split()
        for i in range(n_per_theme):
            picked = [words[(i + j) % len(words)] for j in range(5)] + [words[i % len(words)]]
            docs.append(IndexDoc.from_article(Article(id=f"{theme}-{i}", title=f"{theme} {i}", body=" ".join(picked))))
    return docs


def test_similarity_blends_text_and_topic_cosines():
    docs = _theme_docs()
    model = RelatedModel(n_candidates=5, n_topics=3, topic_weight=0.2).fit(docs)
    assert model.topics_.shape == (len(docs), 3)
    text = (model.matrix_ @ model.matrix_.T).toarray()
    topic = model.topics_ @ model.topics_.T
    for row, neighbours in enumerate(model.neighbors()):
        for n in neighbours:
            col = model.ids_.index(n.id)
            assert n.similarity == pytest.approx(0.8 * text[row, col] + 0.2 * topic[row, col], abs=1e-5)
            assert text[row, col] > 0 and n.why  # topics re-order articles sharing words, never add others
    assert all(n.id.split("-")[0] == "cannabis" for n in model.neighbors()[0])


def test_without_topic_weight_the_similarity_is_the_text_cosine():
    docs = _theme_docs()
    model = RelatedModel(n_candidates=3, topic_weight=0.0).fit(docs)
    assert model.topics_ is None
    text = (model.matrix_ @ model.matrix_.T).toarray()
    first = model.neighbors()[0]
    assert [n.similarity for n in first] == pytest.approx([text[0, model.ids_.index(n.id)] for n in first])


def test_transform_maps_articles_into_the_fitted_space_and_a_stored_model_transforms_alike(tmp_path):
    """The estimator contract: fit returns the model; transform gives the vectors fit gave
    its own articles; the model stored with a version and loaded back (persistence lives
    in RelatedState, outside the model) transforms new articles exactly as the fitted one."""
    docs = _theme_docs()
    model = RelatedModel(n_candidates=5, n_topics=3, topic_weight=0.2)
    assert model.fit(docs) is model
    matrix, topics = model.transform(docs)
    assert abs(matrix - model.matrix_).max() < 1e-6 and np.allclose(topics, model.topics_, atol=1e-6)
    store = Store.create(tmp_path)
    RelatedState(store).save_model(model, {}, zip(model.ids_, map(encode_candidates, model.neighbors())))
    loaded, _ = RelatedState(store).load_model({"n_candidates": 5, "n_topics": 3, "topic_weight": 0.2})
    new = [IndexDoc.from_article(Article(id="new", title="Opioid relapse", body="opioid relapse naloxone unknownword"))]
    (fitted_rows, fitted_topics), (loaded_rows, loaded_topics) = model.transform(new), loaded.transform(new)
    assert abs(fitted_rows - loaded_rows).max() < 1e-6 and np.allclose(fitted_topics, loaded_topics, atol=1e-6)
    assert fitted_rows.nnz > 0 and not hasattr(loaded, "matrix_")
    store.close()


def test_too_few_articles_for_topics_fall_back_to_words():
    model = RelatedModel(n_topics=12).fit(_theme_docs(n_per_theme=3))  # 9 articles < 2 x 12 topics
    assert model.topics_ is None and model.neighbors()[0]


def test_an_upserted_copy_gets_the_list_of_its_original(tmp_path):
    """Upserts are vectorized with the stored vocabulary, idf and topics: a copy of an
    article scores its neighbours as the build scored them for the original."""
    settings = make_settings(tmp_path, related_topics=3, related_fallback=[])
    rows = [{"id": d.id, "title": d.id.replace("-", " "), "body": " ".join(d.terms)} for d in _theme_docs()]
    indexer = Indexer(settings)
    indexer.build([write_jsonl(tmp_path / "themes.jsonl", rows)])
    service = SearchService(settings)
    original = service.related("opioid-3", 5)
    indexer.upsert([Article(id="opioid-3-copy", title=rows[13]["title"], body=rows[13]["body"])])
    copy = service.related("opioid-3-copy", 5)
    assert [i.id for i in copy] == [i.id for i in original]  # the original itself: a duplicate, left out
    assert [i.score for i in copy] == pytest.approx([i.score for i in original], abs=2e-3)
    # The same story under two ids: other lists show one of them, never both.
    lists = [[i.id for i in service.related(f"opioid-{n}", 10)] for n in range(10) if n != 3]
    assert all("opioid-3" in ids or "opioid-3-copy" in ids for ids in lists)
    assert not any({"opioid-3", "opioid-3-copy"} <= set(ids) for ids in lists)
    service.close()


def _articles(*specs):
    return {a.id: a for a in (Article(id=i, title=i, **kw) for i, kw in specs)}


def _pool(articles):
    ordered = sorted(articles.values(), key=lambda a: a.published or dt.date.min, reverse=True)
    return lambda category: [a for a in ordered if category is None or a.category_key == category]


def test_blend_boosts_category_and_tags_and_drops_duplicates():
    articles = _articles(
        ("src", dict(category="Treatment", tags=("ketamine",))),
        ("same-cat", dict(category="Treatment", tags=("ketamine",))),
        ("other", dict(category="Cannabis")),
        ("dup", dict(category="Treatment")),
    )
    policy = RelatedPolicy(k=3, today=TODAY, fallback=())
    entries = policy.blend(articles["src"], [Neighbor("other", 0.40, ()), Neighbor("same-cat", 0.36, ()),
                                             Neighbor("dup", 0.95, ())], articles, _pool(articles))
    assert [e.id for e in entries] == ["same-cat", "other"]
    assert entries[0].score == pytest.approx(0.36 + 0.05 + 0.03)


def test_a_list_shows_one_copy_of_each_story():
    articles = _articles(("src", {}), ("story", {}), ("story-again", {}), ("pinned-story", {}),
                         ("pinned-story-mirror", {}), ("other", {}))
    candidates = {
        "src": [Neighbor("story", 0.6, ()), Neighbor("story-again", 0.59, ()),
                Neighbor("pinned-story-mirror", 0.55, ()), Neighbor("other", 0.4, ())],
        "story": [Neighbor("story-again", 0.97, ()), Neighbor("src", 0.6, ())],
        "pinned-story": [Neighbor("pinned-story-mirror", 0.93, ())],
    }
    copies = near_duplicates(candidates, 0.9)
    assert copies["story-again"] == {"story"} and copies["pinned-story-mirror"] == {"pinned-story"}
    policy = RelatedPolicy(k=5, today=TODAY, fallback=(), pins={"src": ["pinned-story"]})
    entries = policy.blend(articles["src"], candidates["src"], articles, _pool(articles), copies=copies)
    assert [e.id for e in entries] == ["pinned-story", "story", "other"]
    without = policy.blend(articles["src"], candidates["src"], articles, _pool(articles))
    assert [e.id for e in without] == ["pinned-story", "story", "story-again", "pinned-story-mirror", "other"]


def test_controls_pins_blocks_excluded_categories_and_future_articles():
    articles = _articles(
        ("src", dict(category="Treatment", related_pins=("pinned",), related_blocks=("blocked",))),
        ("pinned", dict(category="News")),
        ("blocked", dict(category="Treatment")),
        ("news", dict(category="News")),
        ("gossip", dict(category="Gossip")),
        ("future", dict(category="Treatment", published=TODAY + dt.timedelta(days=3))),
        ("pair", dict(category="Treatment")),
        ("ok", dict(category="Recovery")),
    )
    policy = RelatedPolicy(k=10, today=TODAY, fallback=(), block_pairs=frozenset({frozenset(("src", "pair"))}),
                           exclude_categories={"treatment": ["news", "gossip"]})
    neighbours = [Neighbor(i, 0.5, ()) for i in ("blocked", "news", "gossip", "future", "pair", "ok")]
    entries = policy.blend(articles["src"], neighbours, articles, _pool(articles))
    assert [(e.id, e.kind) for e in entries] == [("pinned", "pinned"), ("ok", "similar")]


def test_short_lists_are_filled_from_fallbacks_and_marked():
    articles = _articles(
        ("src", dict(category="Cannabis")),
        ("c-old", dict(category="Cannabis", published=dt.date(2020, 1, 1))),
        ("c-new", dict(category="Cannabis", published=dt.date(2025, 1, 1))),
        ("x-new", dict(category="Alcohol", published=dt.date(2025, 6, 1))),
    )
    entries = RelatedPolicy(k=3, today=TODAY).blend(articles["src"], [], articles, _pool(articles))
    assert [(e.id, e.kind) for e in entries] == [("c-new", "fallback"), ("c-old", "fallback"), ("x-new", "fallback")]


def test_diversity_penalizes_near_copies():
    articles = _articles(("src", {}), ("a", {}), ("a-copy", {}), ("b", {}))
    neighbours = [Neighbor("a", 0.6, ()), Neighbor("a-copy", 0.59, ()), Neighbor("b", 0.5, ())]
    similar = {frozenset(("a", "a-copy")): 0.85}
    pairwise = lambda x, y: similar.get(frozenset((x, y)), 0.0)  # noqa: E731
    plain = RelatedPolicy(k=3, today=TODAY, fallback=()).blend(articles["src"], neighbours, articles, _pool(articles))
    diverse = RelatedPolicy(k=3, today=TODAY, fallback=(), diversity=0.5).blend(
        articles["src"], neighbours, articles, _pool(articles), pairwise)
    assert [e.id for e in plain] == ["a", "a-copy", "b"]
    assert [e.id for e in diverse] == ["a", "b", "a-copy"]


def test_teasers_cut_at_word_boundaries():
    text = "Discover whether weed has calories and how it impacts your health and nutrition, from flower to edibles."
    short = cut(text, 60)
    assert short.endswith("\u2026") and len(short) <= 61
    assert text.startswith(short[:-1]) and text[len(short) - 1] in " ,"
    assert cut("Short enough.", 110) == "Short enough."
    assert cut("Pneumonoultramicroscopicsilicovolcanoconiosis is long", 10) == "Pneumonoultramicroscopicsilicovolcanoconiosis\u2026"
    no_summary = Article(id="x", title="t", body="First sentence here. Second sentence follows. " * 10)
    assert teaser(no_summary, 50).startswith("First sentence here.")


def test_teasers_never_contain_raw_html(tmp_path):
    settings = make_settings(tmp_path)
    Indexer(settings).build([write_jsonl(tmp_path / "a.jsonl", [
        {"id": "a", "title": "Ketamine <b>bold</b>", "summary": "<script>alert(1)</script> ketamine therapy"},
        {"id": "b", "title": "Ketamine too", "summary": "ketamine therapy"},
    ])])
    service = SearchService(settings)
    [item] = service.related("b", 1)
    assert item.teaser == "<script>alert(1)</script> ketamine therapy"  # plain text; every renderer escapes it
    service.close()


def test_packed_cards_read_back_as_made_and_render_the_same_payload():
    articles = [Article(id="a-1", title="Ketamine <for> \u201ctreatment\u201d", summary="Caf\u00e9 & clinic \U0001f33f",
                        url="/ketamine", category="Treatment"),
                Article(id="b", title="Empty teaser"),
                Article(id="c\u00e9", title="Molly", body="MDMA, called molly. It is a stimulant.")]
    cards = {a.id: ItemCard.of(a, "", 110) for a in articles}
    packed = pickle.loads(pickle.dumps(PackedCards.of(cards.values())))
    assert list(packed) == ["a-1", "b", "c\u00e9"] and len(packed) == 3
    assert {card_id: packed[card_id] for card_id in packed} == cards
    assert packed.get("missing") is None
    entries = [RelatedEntry("c\u00e9", 0.5, "similar", ("molli",)), RelatedEntry("gone", 0.4, "similar"),
               RelatedEntry("a-1", 0.3, "fallback")]
    assert render(entries, packed) == render(entries, cards)
    assert render(entries, packed).count() == 2


def test_a_build_records_who_shows_whom_for_every_entry_of_every_list(sample_settings):
    store = Store(Layout(sample_settings.resolve(sample_settings.index_dir)).current_dir() / STORE_FILE)
    sources = store.related_sources()
    showing: dict[str, set[str]] = {}
    for source in sources:
        for entry in store.related(source):
            showing.setdefault(entry.id, set()).add(source)
    assert len(showing) > 10
    for target, expected in showing.items():
        assert store.sources_listing(target) == expected
    store.close()


def test_upserted_article_joins_its_neighbours_lists_and_leaves_on_delete(writable_sample):
    indexer = Indexer(writable_sample)
    service = SearchService(writable_sample)
    new = Article(id="ketamine-nasal-spray", title="Esketamine nasal spray and ketamine infusions",
                  summary="How esketamine and ketamine infusions are used for depression.",
                  body="Ketamine infusions and esketamine nasal spray treat depression. " * 5,
                  category="Mental Health", tags=("ketamine", "depression"))
    indexer.upsert([new])
    assert "ketamine-infusion-therapy-depression" in [i.id for i in service.related(new.id, 3)]
    assert new.id in [i.id for i in service.related("ketamine-infusion-therapy-depression", 5)]
    indexer.delete([new.id])
    for source in ("ketamine-infusion-therapy-depression", "ketamine-addiction-treatment"):
        assert new.id not in [i.id for i in service.related(source, 20)]
    assert service.related(new.id) is None
    service.close()


def _common_word_docs(n_per_theme=10) -> list[IndexDoc]:
    """Articles on three themes, two in three of them also using one common word."""
    docs = []
    for theme, words in THEMES.items():
        words = words.split()
        for i in range(n_per_theme):
            picked = [words[(i + j) % len(words)] for j in range(4)] + ["clinic"] * (i % 3 > 0)
            docs.append(IndexDoc.from_article(Article(id=f"{theme}-{i}", title="", body=" ".join(picked))))
    return docs


def test_an_upsert_sharing_only_a_common_word_changes_no_other_list(tmp_path):
    """As in a build, an upserted article becomes a candidate where its rarer words meet
    another's: one whose only known word more than half the articles use is found by none."""
    settings = make_settings(tmp_path, related_fallback=[])
    rows = [{"id": d.id, "title": d.id.replace("-", " "), "body": " ".join(d.terms)} for d in _common_word_docs()]
    indexer = Indexer(settings)
    indexer.build([write_jsonl(tmp_path / "common.jsonl", rows)])
    service = SearchService(settings)
    before = {row["id"]: [i.id for i in service.related(row["id"], 10)] for row in rows}
    assert sum("clinic" in row["body"].split() for row in rows) == 18  # of 30: more than max_df, a half
    report = indexer.upsert([Article(id="clinic-hours", title="Clinic hours", body="The clinic opens at nine.")])
    assert report.related_updated == 1  # its own list
    assert {row["id"]: [i.id for i in service.related(row["id"], 10)] for row in rows} == before
    service.close()


def test_articles_upserted_together_are_each_others_neighbours(tmp_path):
    settings = make_settings(tmp_path, related_fallback=[])
    rows = [{"id": d.id, "title": d.id.replace("-", " "), "body": " ".join(d.terms)} for d in _theme_docs()]
    indexer = Indexer(settings)
    indexer.build([write_jsonl(tmp_path / "themes.jsonl", rows)])
    # Words the site already has (an upsert weighs words as the build learned them).
    harvest = [Article(id="harvest-time", title="Harvest time",
                       body="When a grower sees amber trichomes at the dispensary."),
               Article(id="trichomes-up-close", title="Trichomes up close",
                       body="Trichomes tell a dispensary when the flower was cut: cloudy first, then amber.")]
    indexer.upsert(harvest)
    service = SearchService(settings)
    assert "trichomes-up-close" in [i.id for i in service.related("harvest-time", 5)]
    assert "harvest-time" in [i.id for i in service.related("trichomes-up-close", 5)]
    service.close()


def test_candidates_are_found_on_the_rarer_words_and_scored_with_every_word():
    """The cap on common words (their long postings make all-pairs slow) decides which
    articles are candidates, not how similar they are: the similarity is the cosine over
    all the words, the common one included."""
    docs = _common_word_docs()
    capped = RelatedModel(n_candidates=len(docs), topic_weight=0.0).fit(docs)
    uncapped = RelatedModel(n_candidates=len(docs), topic_weight=0.0, max_df=1.0).fit(docs)
    assert "clinic" in capped.vocabulary_ and capped.vocabulary_["clinic"] not in capped.finding_columns_
    text = (uncapped.matrix_ @ uncapped.matrix_.T).toarray()
    for row, neighbours in enumerate(capped.neighbors()):
        assert neighbours
        for n in neighbours:
            col = uncapped.ids_.index(n.id)
            assert n.similarity == pytest.approx(text[row, col], abs=1e-5)
            assert n.id.split("-")[0] == capped.ids_[row].split("-")[0]  # sharing only "clinic" is not enough


def test_pairwise_similarity_is_the_rows_dot_product_and_zero_for_an_unknown_article():
    # Row a's column 2 is written twice (a matrix not in canonical form): it counts once, summed.
    matrix = sp.csr_matrix(([0.6, 0.3, 0.5, 0.8, 0.6, 1.0], [0, 2, 2, 2, 3, 1], [0, 3, 5, 6]), shape=(3, 4))
    similarity = pairwise_similarity(["a", "b", "c"], matrix)
    assert similarity("a", "b") == pytest.approx(0.8 * 0.8)
    assert similarity("b", "a") == pytest.approx(0.64)
    assert similarity("a", "c") == 0.0
    assert similarity("a", "missing") == 0.0
