"""Hostile source files are refused with bounded time and memory (docs/reliability.md#hostile-files).

The whole corpus (tests/reliability/hostile.py, small scale) is built file by file in
processes of their own, each under a memory cap: every file is refused with the message
naming its limit, or skipped and counted, and no process's peak RSS passes 300 MB. The
other tests pin each limit down with a real file at and over it, and the markup worker's
own limits with a worker given small ones.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys

import pytest

from indexer.build import Indexer
from indexer.sources import Record, Rejected, Skipped, read_paths
from indexer.sources.bounded import EXPANSION_FLOOR, MAX_DOCUMENT_BYTES, MAX_EXPANSION, MAX_RECORD_BYTES
from indexer.sources.isolation import Worker, isolated
from indexer.sources.markdown import MAX_FRONT_MATTER_BYTES
from indexer.sources.text import MAX_ATTRIBUTES, HostileMarkup, html_to_text, markdown_to_text, page_fields
from indexer.sources.wxr import MAX_XML_DEPTH
from tests.conftest import REPO, make_settings
from tests.reliability.hostile import ATTACHMENT, ATTACKS, PEAK_LIMIT_MB, POST, WXR_HEAD, WXR_TAIL, gzip_members


def items_of(path) -> list:
    return list(read_paths([path]))


def test_every_hostile_file_is_refused_within_the_memory_cap(tmp_path):
    out = tmp_path / "hostile.json"
    run = subprocess.run([sys.executable, "-m", "tests.reliability.hostile", "--scale", "small", "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    result = json.loads(out.read_text())
    outcomes = {o["name"]: o for o in result["outcomes"]}
    assert set(outcomes) == {a.name for a in ATTACKS if not a.full_only}, run.stdout + run.stderr
    for attack in ATTACKS:
        if attack.full_only:
            continue
        outcome = outcomes[attack.name]
        if attack.expected:
            assert any(attack.expected in m for m in outcome["messages"]), (attack.name, outcome["messages"])
        else:
            assert outcome["skipped"] == attack.skipped // 10, (attack.name, outcome)
        assert outcome["peak_mb"] < PEAK_LIMIT_MB, (attack.name, outcome["peak_mb"])
    assert run.returncode == 0, run.stdout + run.stderr


# Sizes: raw and decompressed --------------------------------------------------------------------

def test_a_file_read_whole_may_hold_16_mib(tmp_path):
    at = tmp_path / "at.md"
    at.write_text("---\ntitle: At\n---\n" + "x" * (MAX_DOCUMENT_BYTES - 18))
    over = tmp_path / "over.md"
    over.write_text("---\ntitle: Over\n---\n" + "x" * (MAX_DOCUMENT_BYTES - 19) + "xx")
    [(_, at_item)] = [(p, i) for p in [at] for i in items_of(p)]
    assert isinstance(at_item, Rejected) and "body is longer than" in at_item.message  # read, then refused for its body
    assert [(i.location, i.message) for i in items_of(over)] == [
        (str(over), "file is larger than 16 MiB, the most a file read whole may hold")]
    packed = tmp_path / "over.md.gz"  # words, which compress too little to be taken for a bomb
    packed.write_bytes(gzip.compress(b"---\ntitle: Over\n---\n" + bytes(random.Random(1).choices(
        b"abcdefghij klmnopqrstuvwxyz", k=MAX_DOCUMENT_BYTES)), compresslevel=1))
    assert [i.message for i in items_of(packed)] == ["file decompresses to more than 16 MiB, the most a file read "
                                                     "whole may hold"]


def test_a_gzip_bomb_is_refused_before_it_expands(tmp_path):
    bomb = tmp_path / "bomb.jsonl.gz"
    gzip_members(bomb, b'{"id": "first", "title": "Before the bomb"}\n', b"{}\n", 64 * 2**20, b"")
    items = items_of(bomb)
    assert isinstance(items[0], Record) and items[0].article.id == "first"  # what came before is kept
    assert items[-1].location == str(bomb)
    assert items[-1].message == f"decompresses to more than {MAX_EXPANSION} times its size: refused as a decompression bomb"
    assert len(items) < 2 * EXPANSION_FLOOR // 3  # it stopped about EXPANSION_FLOOR in, not 64 MiB


def test_gzip_files_that_compress_well_but_sanely_are_read(tmp_path):
    """Thousands of records repeating one body compress about 200 times: read in full."""
    lines = "".join(json.dumps({"id": f"a{i}", "title": f"Title {i}", "body": "x" * 2000}) + "\n" for i in range(3000))
    packed = tmp_path / "same-body.jsonl.gz"
    packed.write_bytes(gzip.compress(lines.encode(), compresslevel=9))
    assert len(lines) / packed.stat().st_size > 150
    items = items_of(packed)
    assert len(items) == 3000 and all(isinstance(i, Record) for i in items)


def test_a_line_over_16_mib_is_rejected_and_the_next_ones_kept(tmp_path):
    source = tmp_path / "long.jsonl"
    with source.open("w") as fh:
        fh.write('{"id": "a", "title": "Before"}\n')
        fh.write('{"id": "long", "title": "' + "x" * MAX_RECORD_BYTES + '"}\n')
        fh.write('{"id": "b", "title": "After"}\n')
    items = items_of(source)
    assert [(type(i), i.location.rsplit(":", 1)[1]) for i in items] == [(Record, "1"), (Rejected, "2"), (Record, "3")]
    assert items[1].message == "line is longer than 16 MiB"


def test_json_holding_too_many_objects_is_rejected_unparsed(tmp_path):
    source = tmp_path / "many.jsonl"
    source.write_text('{"id": "x", "title": "t", "n": [' + "{}," * 1_000_000 + "{}]}\n" + '{"id": "y", "title": "u"}\n')
    items = items_of(source)
    assert items[0].message == "line holds more than 1,000,000 JSON objects and arrays"
    assert isinstance(items[1], Record)
    whole = tmp_path / "many.json"
    whole.write_text("[" + "[]," * 1_000_000 + "[]]")
    assert [i.message for i in items_of(whole)] == [
        "file holds more than 1,000,000 JSON objects and arrays: write JSON Lines (.jsonl), read one line at a time"]


def test_a_csv_row_over_16_mib_stops_the_file_with_its_line(tmp_path):
    source = tmp_path / "rows.csv"
    source.write_text('id,title\nok,Fine\nbad,"' + "x\n" * (MAX_RECORD_BYTES // 2 + 1) + '"\nlater,Never read\n')
    items = items_of(source)
    assert [i.article.id for i in items if isinstance(i, Record)] == ["ok"]
    assert [(i.location, i.message) for i in items if isinstance(i, Rejected)] == [
        (f"{source}:3", "row is longer than 16 MiB: the rest of the file is not read")]


def test_front_matter_over_64_kib_is_refused_unparsed(tmp_path):
    at = tmp_path / "at.md"
    at.write_text("---\ntitle: At\nx: '" + "y" * (MAX_FRONT_MATTER_BYTES - 17) + "'\n---\nBody.\n")
    over = tmp_path / "over.md"
    over.write_text("---\ntitle: Over\nx: '" + "y" * (MAX_FRONT_MATTER_BYTES - 17) + "'\n---\nBody.\n")
    assert [type(i) for i in items_of(at)] == [Record]
    assert [(i.location, i.message) for i in items_of(over)] == [(f"{over}:1", "front matter is longer than 64 KiB")]


# WordPress exports: a stream ------------------------------------------------------------------

def test_skipped_items_are_counted_not_kept(tmp_path):
    export = tmp_path / "export.xml"
    export.write_text(WXR_HEAD + ATTACHMENT * 30_000 + POST + WXR_TAIL)
    report = Indexer(make_settings(tmp_path)).build([export])
    assert (report.indexed, report.skipped_count, report.rejected) == (1, 30_000, [])


def test_a_report_keeps_the_first_thousand_rejections_and_counts_them_all(tmp_path):
    source = tmp_path / "bad.jsonl"
    source.write_text('{"id": "ok", "title": "Fine"}\n' + "{}\n" * 1500)
    report = Indexer(make_settings(tmp_path)).build([source])
    assert report.rejected_count == 1500 and len(report.rejected) == 1000
    assert report.rejected[-1].location == f"{source}:1001"


def test_wordpress_items_and_nesting_are_bounded(tmp_path):
    deep = tmp_path / "deep.xml"
    deep.write_text(WXR_HEAD + POST + "<item>" + "<x>" * MAX_XML_DEPTH + "</x>" * MAX_XML_DEPTH + "</item>" + WXR_TAIL)
    items = items_of(deep)
    assert isinstance(items[0], Record)
    assert items[-1].message == f"XML nests more than {MAX_XML_DEPTH} elements deep"
    big = tmp_path / "big.xml"
    # The parser reads 16 KiB at a time: an item is measured to within that.
    big.write_text(WXR_HEAD + POST + POST.replace("Text.", "x" * (MAX_RECORD_BYTES + 2**15)) + POST.replace(">1<", ">3<")
                   + WXR_TAIL)
    items = items_of(big)
    assert isinstance(items[0], Record) and len(items) == 2
    assert items[1].message == "item 2 is larger than 16 MiB: the rest of the file is not read"


def test_an_item_with_too_many_fields_is_rejected(tmp_path):
    export = tmp_path / "tags.xml"
    tags = "".join(f'<category domain="post_tag"><![CDATA[t{i}]]></category>' for i in range(1_000))
    export.write_text(WXR_HEAD + POST.replace("</item>", tags + "</item>") + WXR_TAIL)
    [item] = items_of(export)
    assert item.message == "item has more than 1,000 fields, categories and tags"


# Markup ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("markup", "message"), [
    ('<div a="<">' * 1001, "HTML nests more than 1,000 elements deep (line 1 of the markup)"),
    ("<div></span>" * 1001, "HTML nests more than 1,000 elements deep (line 1 of the markup)"),
    ("<x-item/>" * 1001, "HTML nests more than 1,000 elements deep (line 1 of the markup)"),
    ("".join(f"<p><i a{k}>" for k in range(1001)), "HTML nests more than 1,000 elements deep (line 1 of the markup)"),
    ("<h1><h2></h2><div></h1>" * 1001, "HTML nests more than 1,000 elements deep (line 1 of the markup)"),
    ("<svg><div><span></svg>" * 501, "HTML nests more than 1,000 elements deep (line 1 of the markup)"),
    ("<form><div></form>" * 1001, "HTML nests more than 1,000 elements deep (line 1 of the markup)"),
    ("\n<div " + " ".join(f"a{i}" for i in range(MAX_ATTRIBUTES + 1)) + ">",
     "an element has more than 1,000 attributes (line 2 of the markup)"),
])
def test_markup_that_would_take_the_parser_minutes_is_refused(markup, message):
    with pytest.raises(HostileMarkup) as refused:
        isolated(html_to_text, markup)
    assert str(refused.value) == message


@pytest.mark.parametrize("markup", [
    "<div>" * 999 + "x", "<div " + " ".join(f"a{i}" for i in range(MAX_ATTRIBUTES)) + ">x",
    "<svg>" + "<path d='M0 0'/>" * 2000 + "</svg><p>x</p>", "<!-- " + "<div>" * 2000 + " -->x",
    "<ul>" + "<li>x" * 3000 + "</ul>", "<div><p>x</div>" * 2000,
])
def test_markup_just_within_the_limits_is_read(markup):
    assert "x" in isolated(html_to_text, markup)


def test_the_markup_worker_stops_a_parse_at_its_time_and_memory_limits():
    """Shapes the first check does not know: the worker is stopped at its limits and replaced."""
    quick, small = Worker(seconds=2), Worker(seconds=60, memory=16 * 2**20)
    try:
        with pytest.raises(HostileMarkup, match="^the markup took longer than 2 s to parse$"):
            isolated(html_to_text, "".join(f"<table><i a{k}><td></i></table>x" for k in range(60_000)),
                     worker=quick)  # lexbor re-opens every <i> after each table: quadratic
        with pytest.raises(HostileMarkup, match="^the markup took longer than 2 s to parse$"):
            isolated(markdown_to_text, "[" * 3_000_000, worker=quick)  # ~10 µs a bracket: ~30 s
        with pytest.raises(HostileMarkup, match="^the markup needs more than 16 MiB to parse"):
            isolated(html_to_text, "<p>" + "<span>x</span>" * 400_000, worker=small)
        assert isolated(html_to_text, "<p>Still <b>here</b></p>", worker=quick) == "Still here"  # a new worker
        fields = isolated(page_fields, "<title>Page</title><p>Body</p>", "id", worker=small)
        assert (fields["title"], fields["body"]) == ("Page", "Body")
    finally:
        quick.close()
        small.close()


def test_a_page_the_worker_refuses_is_rejected_and_the_build_goes_on(tmp_path):
    (tmp_path / "bad.html").write_text("<title>Bad</title>" + "<h1><h2></h2><div></h1>" * 1001)
    (tmp_path / "bad.md").write_text("---\ntitle: Bad\n---\n" + "<div>" * 1001)
    (tmp_path / "good.html").write_text("<title>Good</title><p>Fine.</p>")
    items = items_of(tmp_path)
    assert [(type(i), i.location.rsplit("/", 1)[1]) for i in items] == [
        (Rejected, "bad.html"), (Rejected, "bad.md"), (Record, "good.html")]
    assert items[0].message == items[1].message == "HTML nests more than 1,000 elements deep (line 1 of the markup)"
    assert not [i for i in items if isinstance(i, Skipped)]
