"""`kindred tune --from-analytics`: synonyms and pins proposed from readers' own sessions,
shown on the dashboard, written to the site's files only when an editor accepts them."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from analytics.databases import EventDatabases, open_events
from analytics.recorder import Analytics
from analytics.site_files import SiteFileError, add_pin
from analytics.tuning import PinProposal, Thresholds, propose
from indexer.build import Indexer
from kindred.cli import main
from search.results import SearchRequest
from search.rules import Rules
from search.service import SearchService
from search.snapshot import CONFIG_CHECK_SECONDS
from search.synonyms import Synonyms
from tests.conftest import REPO, make_settings, sign_in, write_jsonl
from web.app import create_app

# No word here is, or is one letter from, "special" or "kay": those searches find nothing.
ARTICLES = [
    {"id": "ketamine-basics", "title": "Ketamine: effects and risks", "category": "Drugs",
     "body": "Ketamine is a dissociative anaesthetic used in hospitals and by vets. Misuse can harm the bladder "
             "and cause confusion and a detached feeling."},
    {"id": "alcohol-and-sleep", "title": "Alcohol and sleep", "category": "Alcohol",
     "body": "A drink before bed shortens deep sleep and makes people wake more often in the night."},
    {"id": "sleep-hygiene", "title": "Sleep hygiene basics", "category": "Wellbeing",
     "body": "Regular hours, a dark bedroom and no screens before bed help sleep. Sleep problems often improve."},
    {"id": "cannabis-and-sleep", "title": "Cannabis withdrawal", "category": "Drugs",
     "body": "Stopping cannabis can disturb rest for a few weeks: vivid dreams and restless nights, poor sleep."},
]


@pytest.fixture
def site(tmp_path) -> dict:
    return small_site(tmp_path)


def small_site(tmp_path: Path, extra: list[dict] = ()) -> dict:
    """A small site (ARTICLES and `extra`) with its own synonyms and rules files, indexed, and
    a settings file."""
    corpus = write_jsonl(tmp_path / "articles.jsonl", ARTICLES + list(extra))
    shutil.copy(REPO / "data" / "rules.toml", tmp_path / "rules.toml")
    (tmp_path / "synonyms.txt").write_text("# the site's synonyms\nweed, cannabis\n", encoding="utf-8")
    settings = make_settings(tmp_path, synonyms=str(tmp_path / "synonyms.txt"), rules=str(tmp_path / "rules.toml"),
                             sources=[str(corpus)])
    Indexer(settings).build([corpus])
    config = tmp_path / "kindred.toml"
    config.write_text(f'index_dir = "index"\nsynonyms = "synonyms.txt"\nrules = "rules.toml"\n'
                      f'analytics_db = "analytics.sqlite"\nsources = ["articles.jsonl"]\n', encoding="utf-8")
    return {"settings": settings, "config": config, "corpus": corpus}


def reader_session(app, misses: str = "special kay", finds: str = "ketamine", target: str = "ketamine-basics"):
    """One reader, with the page's session cookie: words that find nothing, then words that
    find the article, and a click on it (a real beacon through the public events API)."""
    client = app.test_client()
    assert client.get("/search", query_string={"q": misses}).status_code == 200
    found = client.get("/api/v1/search", query_string={"q": finds}).get_json()
    assert found["total"] > 0 and target in [h["id"] for h in found["hits"]]
    position = [h["id"] for h in found["hits"]].index(target) + 1
    assert client.post("/api/v1/events", json={"type": "result_click", "query": finds, "target": target,
                                               "position": position}).status_code == 204


def deep_click_session(app, query: str, target: str, position: int):
    client = app.test_client()
    assert client.get("/search", query_string={"q": query}).status_code == 200
    assert client.post("/api/v1/events", json={"type": "result_click", "query": query, "target": target,
                                               "position": position}).status_code == 204


def tune(site, *args) -> dict:
    result = CliRunner().invoke(main, ["--config", str(site["config"]), "tune", "--from-analytics", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def search_ids(settings, query: str) -> list[str]:
    service = SearchService(settings)
    try:
        return [hit.id for hit in service.search(SearchRequest(q=query)).hits]
    finally:
        service.close()


def test_a_zero_result_search_answered_later_becomes_a_synonym_the_editor_accepts(site):
    settings = site["settings"]
    assert search_ids(settings, "special kay") == []
    app = create_app(settings)
    for _ in range(settings.analytics_tune_min_sessions):
        reader_session(app)
    app.extensions["kindred.analytics"].flush()

    # Proposed, from the command line, and nothing changed.
    synonyms_before = Path(settings.synonyms).read_text(encoding="utf-8")
    proposed = tune(site)["synonyms"]
    assert [(p["words"], p["answer"], p["sessions"], p["clicked"]) for p in proposed] == [
        ("special kay", "ketamine", 3, 3)]
    assert proposed[0]["line"] == "special kay => ketamine"
    assert Path(settings.synonyms).read_text(encoding="utf-8") == synonyms_before

    # Shown on the dashboard, behind the sign-in; accepting needs the form's CSRF token.
    client = app.test_client()
    form = {"kind": "synonym", "words": "special kay", "answer": "ketamine", "days": "30"}
    assert client.post("/admin/proposals/accept", data=form).status_code == 302  # to the sign-in
    sign_in(client)
    html = client.get("/admin/analytics").get_data(as_text=True)
    assert "Add synonym “special kay =&gt; ketamine”" in html
    assert client.post("/admin/proposals/accept", data=form).status_code == 400  # no CSRF token
    assert Path(settings.synonyms).read_text(encoding="utf-8") == synonyms_before
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    accepted = client.post("/admin/proposals/accept", data={**form, "csrf_token": csrf})
    assert accepted.status_code == 302

    # Written where the site keeps its synonyms, keeping what was there.
    written = Path(settings.synonyms).read_text(encoding="utf-8")
    assert written.startswith(synonyms_before) and written.rstrip().endswith("\nspecial kay => ketamine")
    assert "Added the synonym" in client.get("/admin/analytics").get_data(as_text=True)

    # Synonyms are read at query time: the running server finds the article once it has looked
    # at the file again (at most CONFIG_CHECK_SECONDS later), with no rebuild; the next build too.
    deadline = time.monotonic() + 10 * CONFIG_CHECK_SECONDS
    while not (hits := client.get("/api/v1/search?q=special kay").get_json()["hits"]) and time.monotonic() < deadline:
        time.sleep(CONFIG_CHECK_SECONDS / 5)
    assert hits[0]["id"] == "ketamine-basics"
    Indexer(settings).build([site["corpus"]])
    assert client.get("/api/v1/search?q=special kay").get_json()["hits"][0]["id"] == "ketamine-basics"
    assert search_ids(settings, "special kay")[0] == "ketamine-basics"

    # In effect now: no longer proposed, and accepting it again is refused.
    assert tune(site)["synonyms"] == []
    html = client.get("/admin/analytics").get_data(as_text=True)
    assert "special kay =&gt; ketamine" not in html
    again = client.post("/admin/proposals/accept", data={**form, "csrf_token": csrf})
    assert again.status_code == 409 and "no longer proposed" in again.get_data(as_text=True)


def test_an_article_clicked_far_down_becomes_a_pin_the_editor_accepts(site):
    settings = site["settings"]
    first = search_ids(settings, "sleep")[0]
    target = next(i for i in search_ids(settings, "sleep") if i != first)
    app = create_app(settings)
    for position in (5, 7, 6):
        deep_click_session(app, "sleep", target, position)
    deep_click_session(app, "sleep", first, 1)  # near the top: no evidence
    app.extensions["kindred.analytics"].flush()

    assert tune(site)["pins"] == [{"query": "sleep", "article": target, "sessions": 3, "mean_position": 6.0}]

    client = app.test_client()
    sign_in(client)
    html = client.get("/admin/analytics").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert "Pin it first" in html
    response = client.post("/admin/proposals/accept", data={
        "kind": "pin", "query": "sleep", "article": target, "days": "30", "csrf_token": csrf})
    assert response.status_code == 302

    rules = Rules.load(Path(settings.rules))
    assert [rule.pins for rule in rules.matching(["sleep"])] == [(target,)]
    assert search_ids(settings, "sleep")[0] == target
    assert tune(site)["pins"] == []


def test_the_command_line_proposes_and_never_applies(site):
    app = create_app(site["settings"])
    reader_session(app)
    app.extensions["kindred.analytics"].flush()
    result = CliRunner().invoke(main, ["--config", str(site["config"]), "tune", "--from-analytics",
                                       "--min-sessions", "1"])
    assert result.exit_code == 0, result.output
    assert "1 sessions (1 clicked)  special kay => ketamine" in result.output
    assert "Nothing was changed" in result.output
    assert "special kay" not in Path(site["settings"].synonyms).read_text(encoding="utf-8")

    refused = CliRunner().invoke(main, ["--config", str(site["config"]), "tune"])
    assert refused.exit_code == 2 and "--from-analytics" in refused.output
    missing = CliRunner().invoke(main, ["--config", str(site["config"]), "tune", "--from-analytics",
                                        "--db", str(site["config"].parent / "nope.sqlite")])
    assert missing.exit_code == 1 and "no such analytics database" in missing.output


def record(path: Path, sessions: list[list[tuple[str, int]]], clicks: list[tuple[str, str, str, int]] = ()):
    """Searches of each session in order (query, results) and result clicks (session, query,
    target, position), through the real recorder."""
    analytics = Analytics(path)
    for number, searches in enumerate(sessions):
        for query, results in searches:
            analytics.record_search(query, {}, results, 1.0, 1, f"{number:032x}", "192.0.2.1")
            time.sleep(0.002)  # distinct timestamps keep each session's order
    for session, query, target, position in clicks:
        analytics.record_event({"type": "result_click", "query": query, "target": target, "position": position},
                               session, "192.0.2.1")
    analytics.flush()


def proposals_of(path: Path, min_sessions: int = 3, max_events: int = 1000, synonyms: str = ""):
    with open_events(EventDatabases(path)) as events:
        return propose(events.conn, 30, Thresholds(min_sessions, 4, max_events), Synonyms.parse(synonyms), Rules())


def test_proposals_rank_by_evidence_and_need_enough_of_it(tmp_path):
    path = tmp_path / "a.sqlite"
    sessions = ([[("molly", 0), ("mdma", 5)]] * 4 + [[("special kay", 0), ("spesial k", 0), ("ketamine", 3)]] * 3
                + [[("ganja", 0), ("weed", 2)]] * 3 + [[("lean", 0), ("codeine", 1)]] * 2)
    clicked = [(f"{n:032x}", "ketamine", "ketamine-basics", 1) for n in range(4, 7)]
    record(path, sessions, clicked)

    found = [(p.words, p.answer, p.sessions, p.clicked) for p in proposals_of(path).synonyms]

    assert found == [("molly", "mdma", 4, 0),
                     ("special kay", "ketamine", 3, 3), ("spesial k", "ketamine", 3, 3),  # a chain of misses
                     ("ganja", "weed", 3, 0)]  # "lean" has 2 sessions: below the threshold
    assert [p.words for p in proposals_of(path, synonyms="ganja => weed").synonyms] == [
        "molly", "special kay", "spesial k"]


def test_one_round_reads_a_bounded_number_of_events(tmp_path):
    path = tmp_path / "a.sqlite"
    record(path, [[("special kay", 0), ("ketamine", 3)]] * 3)

    bounded = proposals_of(path, max_events=4)

    assert (bounded.searches_read, bounded.capped, bounded.synonyms) == (4, True, ())  # the latest 2 sessions
    complete = proposals_of(path, max_events=6)
    assert (complete.searches_read, complete.capped, len(complete.synonyms)) == (6, False, 1)


def test_privacy_marks_are_never_proposed(tmp_path):
    path = tmp_path / "a.sqlite"
    record(path, [[("call 555-0100-2233", 0), ("helpline", 4)]] * 3)
    assert proposals_of(path).synonyms == ()


def test_a_pin_is_not_written_into_a_rules_file_that_does_not_parse(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nname = 'broken'\nmatch_any = 'not a list'\n", encoding="utf-8")
    before = rules.read_bytes()
    with pytest.raises(SiteFileError, match="does not parse"):
        add_pin(rules, PinProposal("sleep", "sleep-hygiene", 3, 6.0))
    assert rules.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["rules.toml"]
