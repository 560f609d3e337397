"""Readers: every format in, valid records kept, bad ones named with file and line."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from click.testing import CliRunner

from indexer.sources import Record, Rejected, Skipped, read_paths
from kindred.cli import main
from search.config import load_settings
from tests.conftest import FIXTURES, SAMPLE, make_settings, write_jsonl

SOURCES = FIXTURES / "sources"


def read(*names: str):
    items = list(read_paths([SOURCES / n for n in names]))
    records = {i.article.id: i.article for i in items if isinstance(i, Record)}
    rejected = [i for i in items if isinstance(i, Rejected)]
    skipped = [i for i in items if isinstance(i, Skipped)]
    return records, rejected, skipped


def test_json_lines_keep_valid_records_and_name_bad_lines():
    records, rejected, _ = read("articles.jsonl")
    assert set(records) == {"a1", "a3"}
    assert records["a1"].tags == ("alcohol", "sleep")
    assert records["a1"].published == dt.date(2024, 2, 1)
    assert records["a3"].tags == ("naloxone", "opioids")  # comma-separated string
    messages = {r.location.rsplit(":", 1)[1]: r.message for r in rejected}
    assert set(messages) == {"3", "5"}
    assert "invalid JSON" in messages["3"]
    assert "missing required field 'id'" in messages["5"]
    assert all(r.location.startswith(str(SOURCES / "articles.jsonl")) for r in rejected)


def test_invalid_utf8_rejects_only_that_line():
    records, rejected, _ = read("bad-utf8.jsonl")
    assert set(records) == {"a5"}
    assert [(r.location.endswith(":1"), r.message) for r in rejected] == [(True, "line is not valid UTF-8")]


def test_json_array_records_are_numbered():
    records, rejected, _ = read("array.json")
    assert set(records) == {"101", "b2"}
    assert records["b2"].title == "empty title"  # an empty title borrows the first words
    assert [r.location.rsplit(" ", 1)[1] for r in rejected] == ["3"]
    assert "ISO date" in rejected[0].message


def test_csv_rows_report_their_line_numbers():
    records, rejected, _ = read("articles.csv")
    assert set(records) == {"c1", "c3"}
    assert records["c1"].title == "Cannabis edibles, explained"
    assert records["c3"].body == "Multi-line\nbody text"
    assert records["c3"].category_key == "harm-reduction"
    assert len(rejected) == 1 and rejected[0].location.endswith("articles.csv:3")
    assert "ISO date" in rejected[0].message


def test_markdown_directory_is_walked_recursively():
    records, rejected, skipped = read("md")
    assert set(records) == {"first", "second"}
    first = records["first"]
    assert first.title == "MDMA: effects and risks"
    assert first.published == dt.date(2024, 6, 1)  # Hugo's `date`
    assert first.related_pins == ("second",)
    assert "**" not in first.body and "bold text" in first.body and "https://" not in first.body
    assert records["second"].category == "Treatment"  # first of Hugo's `categories`
    assert [s.reason for s in skipped] == ["draft"]
    assert len(rejected) == 1 and "broken.md" in rejected[0].location
    assert "front matter" in rejected[0].message


def test_html_takes_metadata_and_main_content_only():
    records, rejected, _ = read("page.html")
    assert not rejected
    page = records["page"]
    assert page.title == "Inhalants and their risks"
    assert page.summary == "What inhalants are and why they are dangerous."
    assert page.tags == ("inhalants", "harm reduction")
    assert page.published == dt.date(2025, 5, 5)
    assert page.url == "https://example.org/inhalants/"
    assert "household products" in page.body and "Suffocation" in page.body
    assert "\n\n## Risks\n\n- Heart rhythm problems\n\n- Suffocation" in page.body  # structure kept for pages
    assert page.body.startswith("Inhalants are household products.")  # the byline is left out
    for boilerplate in ("About us", "Copyright", "Related reading", "tracking", "Sam Writer"):
        assert boilerplate not in page.body


def test_wordpress_export_keeps_published_posts_and_pages():
    records, rejected, skipped = read("export.xml")
    assert set(records) == {"11", "14"}
    post = records["11"]
    assert post.title == "Fentanyl test strips"
    assert post.category == "Harm Reduction" and post.tags == ("fentanyl", "drug checking")
    assert post.author == "Jane Doe" and post.published == dt.date(2024, 3, 4)
    assert post.summary == "What strips can and cannot tell you."
    assert post.body == "Test strips detect fentanyl.\n\nA caption\n\nSecond paragraph."
    assert sorted(s.reason for s in skipped) == ["post type attachment", "status draft"]
    assert not rejected


def test_gzipped_wordpress_export_reads_like_the_plain_one(tmp_path):
    gz = tmp_path / "export.xml.gz"
    gz.write_bytes(gzip.compress((SOURCES / "export.xml").read_bytes()))
    items = list(read_paths([gz]))
    assert sorted(i.article.id for i in items if isinstance(i, Record)) == ["11", "14"]
    assert all(i.location.startswith(str(gz)) for i in items)


def test_html_takes_every_open_graph_tag(tmp_path):
    page = tmp_path / "tags.html"
    page.write_text('<html><head><title>Kratom</title><meta property="article:tag" content="kratom">'
                    '<meta property="article:tag" content="Opioids"><meta property="article:tag" content=" ">'
                    '</head><body><p>Kratom is a plant.</p></body></html>')
    [record] = list(read_paths([page]))
    assert record.article.tags == ("kratom", "Opioids")


@pytest.mark.parametrize("name", ["billion-laughs.xml", "xxe.xml"])
def test_hostile_xml_is_refused_not_expanded(name):
    records, rejected, _ = read(name)
    assert not records
    assert len(rejected) == 1 and name in rejected[0].location


def test_malformed_xml_names_the_line():
    _, rejected, _ = read("malformed.xml")
    assert len(rejected) == 1 and rejected[0].location.endswith("malformed.xml:1")
    assert "malformed XML" in rejected[0].message


def test_duplicate_ids_across_files_keep_the_first(tmp_path):
    (tmp_path / "one.jsonl").write_text('{"id": "x", "title": "First"}\n')
    (tmp_path / "two.jsonl").write_text('{"id": "x", "title": "Second"}\n')
    items = list(read_paths([tmp_path]))
    assert [i.article.title for i in items if isinstance(i, Record)] == ["First"]
    [dup] = [i for i in items if isinstance(i, Rejected)]
    assert "duplicate id 'x'" in dup.message and "one.jsonl:1" in dup.message


def test_missing_path_and_unknown_suffix_are_reported(tmp_path):
    (tmp_path / "notes.docx").write_text("x")
    items = list(read_paths([tmp_path / "nope", tmp_path / "notes.docx"]))
    assert [type(i) for i in items] == [Rejected, Rejected]
    assert "no such file" in items[0].message and "unsupported file type" in items[1].message


def test_wordpress_theme_test_data_as_exported():
    """An excerpt of WordPress's own theme test export: its edge cases, as they are."""
    records, rejected, skipped = read("wordpress-theme-test-excerpt.xml")
    assert not rejected
    assert sorted(s.reason for s in skipped) == [
        "password protected", "post type attachment", "post type nav_menu_item", "status draft", "status future"]
    assert records["1169"].title.startswith("This post has no title")  # the "no title" edge case
    many = next(r for r in records.values() if r.url.endswith("/edge-case-many-categories/"))
    assert many.category == "Classic"  # the first of its many categories; its post tags stay tags
    assert many.tags == ("categories", "edge case")
    markup = next(r for r in records.values() if r.url.endswith("/markup-html-tags-and-formatting/"))
    # Markup is gone; text that merely mentions a tag ("the HTML <blockquote> element") stays.
    assert "<p>" not in markup.body and "</a>" not in markup.body and "Headings" in markup.body


WXR_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:wp="http://wordpress.org/export/1.2/">\n<channel>\n<title>Test site</title>\n')


def wxr(*items: tuple[str, str], site: str = "https://wpthemetestdata.wordpress.com") -> str:
    """A WordPress export of published posts: (post id, title as WordPress writes it)."""
    body = "".join(f"<item><title><![CDATA[{title}]]></title><content:encoded><![CDATA[<p>Post {post_id}.</p>]]>"
                   f"</content:encoded><wp:post_id>{post_id}</wp:post_id><wp:status>publish</wp:status>"
                   f"<wp:post_type>post</wp:post_type></item>\n" for post_id, title in items)
    return WXR_HEAD + f"<wp:base_blog_url>{site}</wp:base_blog_url>\n" + body + "</channel>\n</rss>\n"


def test_titles_are_text_whatever_the_format(tmp_path):
    """WordPress titles are HTML and exports escape entities: every reader gives plain text
    (the two WordPress titles are from WordPress's own test exports)."""
    (tmp_path / "export.xml").write_text(wxr(("1", "Markup: Title <em>With</em> <b>Mark<sup>up</sup></b>"),
                                             ("2", "Media &amp; Text")))
    (tmp_path / "page.html").write_text('<html><head><meta property="og:title" content="Cold &lt;em&gt;water&lt;/em&gt;'
                                        ' &amp;amp; heat"></head><body><p>Text.</p></body></html>')
    (tmp_path / "note.md").write_text('---\ntitle: "Sleep &amp; <i>alcohol</i>"\n---\nText.\n')
    (tmp_path / "rows.csv").write_text('id,title\nc1,"Tom &amp; Jerry<br>return"\n')
    (tmp_path / "rows.jsonl").write_text('{"id": "j1", "title": "  Naloxone <strong>saves</strong>\\n lives  "}\n'
                                         '{"id": "j2", "title": "Why 2 < 3 and <vector> stay; &lt;b&gt; is text"}\n')
    items = list(read_paths([tmp_path]))
    titles = {i.article.id: i.article.title for i in items if isinstance(i, Record)}
    assert titles == {
        "1": "Markup: Title With Markup", "2": "Media & Text", "page": "Cold water & heat",
        "note": "Sleep & alcohol", "c1": "Tom & Jerry return", "j1": "Naloxone saves lives",
        "j2": "Why 2 < 3 and <vector> stay; <b> is text",
    }


def test_csv_unterminated_quote_is_rejected_with_its_line(tmp_path):
    source = tmp_path / "rows.csv"
    source.write_text('id,title,body\na1,Fine,ok\nb2,"Unterminated,body\na3,Next,row\n')
    items = list(read_paths([source]))
    assert [i.article.id for i in items if isinstance(i, Record)] == ["a1"]
    [rejected] = [i for i in items if isinstance(i, Rejected)]
    assert rejected.location == f"{source}:3"
    assert rejected.message == ("a quoted cell opened in the row starting on line 3 is never closed "
                                "(it runs to the end of the file, line 4)")


def test_csv_rows_spanning_lines_are_named_by_their_first_line(tmp_path):
    source = tmp_path / "rows.csv"
    source.write_text('id,title,body\na1,"Two\nlines",x\na2,Bad,"ok"trailing\na3,Fine,y\n')
    items = list(read_paths([source]))
    assert [(type(i).__name__, i.location.rsplit(":", 1)[1]) for i in items] == [
        ("Record", "2"), ("Rejected", "4"), ("Record", "5")]


@pytest.mark.parametrize(("raw", "title", "body"), [
    (b'<html><head><meta charset="iso-8859-1"><title>Caf\xe9 cr\xe8me</title></head><body><p>Na\xefve</p></body></html>',
     "Caf\u00e9 cr\u00e8me", "Na\u00efve"),
    (b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
     b'<title>\x93Quoted\x94</title></head><body><p>\x80 5</p></body></html>', "\u201cQuoted\u201d", "\u20ac 5"),
    (b"<HTML><HEAD><META HTTP-EQUIV='content-type' CONTENT='text/html;charset=Shift_JIS'><TITLE>"
     + "\u65e5\u672c".encode("shift_jis") + b"</TITLE></HEAD><BODY>x</BODY></HTML>", "\u65e5\u672c", "x"),
    ("\ufeff<html><head><title>UTF-16 \u00e9</title></head><body><p>\u00e9t\u00e9</p></body></html>".encode("utf-16-le"),
     "UTF-16 \u00e9", "\u00e9t\u00e9"),
    (b"\xef\xbb\xbf<html><head><title>BOM \xc3\xa9</title></head><body><p>x</p></body></html>", "BOM \u00e9", "x"),
], ids=["meta-charset", "http-equiv", "upper-case", "utf-16-bom", "utf-8-bom"])
def test_html_is_read_in_the_encoding_it_declares(tmp_path, raw, title, body):
    page = tmp_path / "page.html"
    page.write_bytes(raw)
    [record] = list(read_paths([page]))
    assert (record.article.title, record.article.body) == (title, body)


@pytest.mark.parametrize(("raw", "message"), [
    (b"<html><head><title>Caf\xe9</title></head><body>x</body></html>",
     'not valid UTF-8 (byte 22) (a page in another encoding must declare it: <meta charset="...">)'),
    (b'<html><head><meta charset="klingon"><title>x</title></head><body>x</body></html>',
     "the page declares an unknown charset 'klingon'"),
    (b"<html>\n<head>\n<title>Unclosed\n</head><body><p>Text.</p></body></html>",
     "the <title> opened on line 3 is never closed, so the rest of the page would be its text: add </title>"),
])
def test_html_that_cannot_be_read_as_written_is_rejected(tmp_path, raw, message):
    page = tmp_path / "page.html"
    page.write_bytes(raw)
    assert [(type(i), i.message) for i in read_paths([page])] == [(Rejected, message)]


def test_kindred_index_says_why_a_lone_bad_file_was_refused(tmp_path):
    bad = tmp_path / "unclosed.md"
    bad.write_text("---\ntitle: Never closed\n\nBody.\n")
    index_dir = str(tmp_path / "idx")
    result = CliRunner().invoke(main, ["index", str(bad), "--index-dir", index_dir])
    assert result.exit_code == 1
    assert f"rejected {bad}:1: front matter is not closed (no second '---' line)" in result.stderr
    assert "(1 rejected); no index was published" in result.stderr and "left serving" not in result.stderr

    good = write_jsonl(tmp_path / "good.jsonl", [{"id": "a", "title": "Alcohol"}])
    assert CliRunner().invoke(main, ["index", str(good), "--index-dir", index_dir]).exit_code == 0
    result = CliRunner().invoke(main, ["index", str(bad), "--index-dir", index_dir])
    assert result.exit_code == 1 and f"rejected {bad}:1" in result.stderr
    assert "(1 rejected); the current index is left serving" in result.stderr


def records_of(items) -> dict:
    return {i.article.id: i.article for i in items if isinstance(i, Record)}


def test_wordpress_exports_read_together_each_get_a_namespace(tmp_path):
    """WordPress's two test exports both have a post 163 (and name the same site): each
    export's ids get its file name; exports of different sites get their site's host."""
    (tmp_path / "64-block-test-data.xml").write_text(wxr(("163", "Search"), ("7", "Block")))
    (tmp_path / "themeunittestdata.wordpress.xml").write_text(wxr(("163", "WP 6.1 Font size scale")))
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.xml").write_text(wxr(("1", "First"), site="https://blog-a.example/"))
    (other / "b.xml").write_text(wxr(("1", "Second"), site="https://blog-b.example/sub/"))
    items = list(read_paths([tmp_path]))
    assert not [i for i in items if isinstance(i, Rejected)]
    assert {i: a.title for i, a in records_of(items).items()} == {
        "64-block-test-data-163": "Search", "64-block-test-data-7": "Block",
        "themeunittestdata.wordpress-163": "WP 6.1 Font size scale",
        "blog-a.example-1": "First", "blog-b.example-1": "Second"}


def test_a_lone_wordpress_export_keeps_its_post_ids():
    """The sample site's ids do not change: its one export's posts keep WordPress's ids."""
    ids = set(records_of(read_paths([SAMPLE])))
    assert {"101", "102", "103", "104", "105"} <= ids and "mdma-effects-and-risks" in ids


def test_configured_prefixes_namespace_a_source_and_its_pins(tmp_path):
    (tmp_path / "export.xml").write_text(wxr(("163", "WordPress post")))
    notes = tmp_path / "notes"
    (notes / "deep").mkdir(parents=True)
    (notes / "163.md").write_text("---\ntitle: A note\nrelated_pins: [other]\nrelated_blocks: other2\n---\nText.\n")
    (notes / "deep" / "other.md").write_text("---\ntitle: Deeper\n---\nText.\n")
    config = tmp_path / "kindred.toml"  # paths relative to it
    config.write_text('[id_prefixes]\n"notes" = "note-"\n"notes/deep" = "deep-"\n')
    items = list(read_paths([tmp_path], load_settings(config, environ={})))
    records = records_of(items)
    assert set(records) == {"163", "note-163", "deep-other"}  # the most specific path wins
    assert records["note-163"].related_pins == ("note-other",) and records["note-163"].related_blocks == ("note-other2",)
    assert not [i for i in items if isinstance(i, Rejected)]


def test_a_duplicate_id_names_both_places_and_the_way_out(tmp_path):
    (tmp_path / "export.xml").write_text(wxr(("163", "WordPress post")))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "163.md").write_text("---\ntitle: A note\n---\nText.\n")
    items = list(read_paths([tmp_path / "export.xml", tmp_path / "notes"]))
    [duplicate] = [i for i in items if isinstance(i, Rejected)]
    assert duplicate.location == str(tmp_path / "notes" / "163.md")
    assert duplicate.message == (f"duplicate id '163' (first seen at {tmp_path / 'export.xml'}: item 1, which is kept); "
                                 "to index both, give one of their sources its own id prefix (setting id_prefixes, "
                                 "or kindred index --id-prefix PATH=PREFIX)")


def test_a_prefix_that_makes_an_id_too_long_rejects_the_record(tmp_path):
    source = write_jsonl(tmp_path / "a.jsonl", [{"id": "x" * 195, "title": "Long"}, {"id": "short", "title": "Ok"}])
    items = list(read_paths([source], make_settings(tmp_path, id_prefixes={str(source): "prefix-"})))
    assert set(records_of(items)) == {"prefix-short"}
    [rejected] = [i for i in items if isinstance(i, Rejected)]
    assert rejected.message == "field 'id' with its prefix 'prefix-' is longer than 200 characters"


@pytest.mark.parametrize("xml", ['<?xml version="1.0"?><feed><entry/></feed>', '<?xml version="1.0"?><rss version="2.0"/>',
                                 '<?xml version="1.0"?><rss><item/></rss>'])
def test_xml_that_is_not_a_wordpress_export_is_rejected(tmp_path, xml):
    source = tmp_path / "other.xml"
    source.write_text(xml)
    assert [(i.location, i.message) for i in read_paths([source])] == [
        (str(source), "not a WordPress export (expected <rss><channel>)")]


def test_kindred_upsert_and_reindex_apply_the_same_id_prefixes(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "sleep.md").write_text("---\ntitle: Sleep and alcohol\n---\nAlcohol and sleep.\n")
    config = tmp_path / "kindred.toml"
    config.write_text(f'index_dir = "idx"\nsources = ["notes"]\n[id_prefixes]\n"notes" = "note-"\n')
    assert CliRunner().invoke(main, ["--config", str(config), "index"]).exit_code == 0
    (notes / "naloxone.md").write_text("---\ntitle: Naloxone basics\n---\nNaloxone.\n")
    assert CliRunner().invoke(main, ["--config", str(config), "upsert", str(notes / "naloxone.md")]).exit_code == 0
    assert CliRunner().invoke(main, ["--config", str(config), "reindex"]).exit_code == 0
    found = CliRunner().invoke(main, ["--config", str(config), "search", "naloxone OR sleep", "--json"])
    assert sorted(h["id"] for h in json.loads(found.output)["hits"]) == ["note-naloxone", "note-sleep"]
