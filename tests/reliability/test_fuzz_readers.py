"""Fuzzing every reader with generated and mutated files: JSON Lines, JSON, CSV, Markdown
with YAML/TOML front matter, HTML pages and WordPress exports, including billion laughs
(XML entities and YAML aliases), XXE, huge fields and numbers, invalid UTF-8, duplicate
ids, absurd nesting and corrupt gzip. Nothing escapes `read_paths`; every bad record is
a Rejected naming its file (and line or record); every valid record is kept."""

from __future__ import annotations

import csv
import gzip
import html
import io
import itertools
import json
import re
import shutil
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import pytest
import yaml
from hypothesis import given, strategies as st

from indexer.sources import READER_FAILED, Record, Rejected, Skipped, read_paths
from indexer.sources.bounded import EXPANSION_FLOOR, MAX_EXPANSION
from indexer.sources.records import plain_title, storable_problem
from indexer.sources.text import MAX_NESTING
from search.article import MAX_SHORT_FIELD_CHARS, Article, InvalidArticle
from tests.conftest import FIXTURES, SAMPLE
from tests.reliability.fuzzing import budget, count

_counter = itertools.count()
_DIR = Path(tempfile.mkdtemp(prefix="kindred-fuzz-readers-"))


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    shutil.rmtree(_DIR, ignore_errors=True)


def write(data: bytes, suffix: str) -> Path:
    path = _DIR / f"case-{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


def read(path: Path) -> list:
    """All items of one file; the invariants every reader keeps, whatever the input."""
    try:
        items = list(read_paths([path]))
    finally:
        path.unlink(missing_ok=True)
    for item in items:
        assert isinstance(item, (Record, Rejected, Skipped)), item
        assert item.location.startswith(str(path)), item
        if isinstance(item, Rejected):
            assert item.message and READER_FAILED not in item.message, item
    return items


def oracle(mapping) -> Article | None:
    """What the article validation makes of a record: an Article, or None (rejected). A
    title read from a file is text (`plain_title`, tested in tests/test_sources.py)."""
    title = mapping.get("title") if isinstance(mapping, dict) else None
    if isinstance(title, str) and len(title) <= MAX_SHORT_FIELD_CHARS:
        mapping = {**mapping, "title": plain_title(title)}
    try:
        article = Article.from_mapping(mapping)
    except InvalidArticle:
        return None
    except (ValueError, OverflowError, TypeError, RecursionError):
        return None
    return None if storable_problem(article) else article


# Strategies ------------------------------------------------------------------------------

PAYLOADS = ('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "{{7*7}}",
            "&lt;&amp;", "\u202e\u200b", "\x00\x01", "]]>", "<!--", "%s%n", "'; DROP TABLE articles; --", "\r\n\r\n")
text = st.one_of(st.text(max_size=80), st.sampled_from(PAYLOADS),
                 st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
safe_text = st.text(alphabet=st.characters(categories=["L", "N", "Zs", "P"], exclude_characters="\x85\xa0"),
                    min_size=1, max_size=60).filter(lambda t: t.strip())
clean_id = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
wild_id = st.one_of(clean_id, st.sampled_from(["", " ", "a\tb", "x" * 201, "has/slash", "<id>", "\u0085", "1"]),
                    st.integers(-5, 10**6), st.just(10**400), st.floats(), st.none(), st.lists(clean_id, max_size=2))
leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text)
value = st.recursive(leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                     max_leaves=8)
dates = st.one_of(st.dates().map(str), st.sampled_from(["2024-13-45", "yesterday", "", "2024-02-30", "2024-06-01T10:00:00Z"]))
clean_record = st.fixed_dictionaries(
    {"id": clean_id, "title": safe_text},
    optional={"body": st.text(max_size=500), "summary": safe_text, "category": safe_text,
              "tags": st.lists(safe_text, max_size=4), "published": st.dates().map(str), "author": safe_text,
              "url": st.sampled_from(["https://example.org/a", "/local/path", ""])})
wild_record = st.fixed_dictionaries(
    {"id": wild_id},
    optional={"title": st.one_of(text, st.just("t" * 2001), st.none(), st.integers(), value),
              "body": st.one_of(text, st.just("b" * 2_000_001)), "summary": text, "url": text, "category": text,
              "tags": st.one_of(st.lists(text, max_size=4), text, value, st.just(["t"] * 101)),
              "published": st.one_of(dates, value), "author": text, "image": text, "extra": value,
              "related_pins": st.one_of(st.lists(wild_id, max_size=2), value)})
records = st.lists(st.one_of(clean_record, wild_record), max_size=8)


def with_duplicates(recs: list[dict], data) -> list[dict]:
    """Sometimes give a record the id of an earlier one."""
    out = []
    for rec in recs:
        if out and data.draw(st.booleans()):
            rec = {**rec, "id": data.draw(st.sampled_from(out))["id"]}
        out.append(rec)
    return out


def expect_records(items: list, expected: list[tuple[str, object]]) -> None:
    """`expected`: (location, record mapping) in order; each becomes a Record (valid and
    first with its id) or a Rejected at that location."""
    by_location = {}
    for item in items:
        by_location.setdefault(item.location, []).append(item)
    seen: set[str] = set()
    for location, mapping in expected:
        got = by_location.get(location, [])
        assert len(got) == 1, (location, got)
        article = oracle(mapping) if isinstance(mapping, dict) else None
        if article is not None and article.id not in seen:
            assert isinstance(got[0], Record) and got[0].article == article, (got[0], mapping)
            seen.add(article.id)
        else:
            assert isinstance(got[0], Rejected), (got[0], mapping)


# JSON Lines and JSON ---------------------------------------------------------------------

BAD_LINES = (b"\xff\xfe not utf-8", b'{"id": "x", "title": "unterminated', b"[" * 5000 + b"]" * 5000,
             b'{"id": "big", "title": 1' + b"1" * 5000 + b"}", b"[1, 2]", b"42", b'"just a string"', b"null",
             b'{"id": "a", "title": "t"} trailing', b"\x00\x00", b"{'single': 'quotes'}")


@budget(0.2)
@given(data=st.data(), gz=st.booleans())
def test_json_lines(data, gz):
    count("reader: JSON Lines")
    recs = with_duplicates(data.draw(records), data)
    lines: list[bytes] = []
    expected = []
    for rec in recs:
        kind = data.draw(st.sampled_from(["record", "record", "bad", "blank"]))
        if kind == "bad":
            lines.append(data.draw(st.sampled_from(BAD_LINES)))
            expected.append((len(lines), None))
        elif kind == "blank":
            lines.append(b"   ")
        else:
            lines.append(json.dumps(rec, ensure_ascii=data.draw(st.booleans())).encode("utf-8", "surrogatepass"))
            expected.append((len(lines), rec))
    raw = b"\n".join(lines) + b"\n"
    packed = gzip.compress(raw)
    path = write(packed if gz else raw, ".jsonl.gz" if gz else ".jsonl")
    items = read(path)
    if gz and len(raw) > EXPANSION_FLOOR and len(raw) > MAX_EXPANSION * len(packed):  # 2 MB of "b": a bomb
        assert "decompression bomb" in items[-1].message and items[-1].location == str(path)
        return
    expect_records(items, [(f"{path}:{n}", rec if rec is None or _utf8(rec) else None) for n, rec in expected])


def _utf8(rec) -> bool:
    try:
        json.dumps(rec, ensure_ascii=False).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


@budget(0.2)
@given(data=st.data())
def test_json_files(data):
    count("reader: JSON")
    recs = with_duplicates(data.draw(records), data)
    shape = data.draw(st.sampled_from(["array", "wrapped", "object", "broken", "deep", "bigint"]))
    if shape == "broken":
        raw = json.dumps(recs).encode()[:-1] + data.draw(st.sampled_from([b"", b",", b"\xff"]))
        assert all(isinstance(i, Rejected) for i in read(write(raw, ".json")))
        return
    if shape == "deep":
        assert [type(i) for i in read(write(b"[" * 100_000 + b"]" * 100_000, ".json"))] == [Rejected]
        return
    if shape == "bigint":
        items = read(write(b'[{"id": "a", "title": ' + b"9" * 10_000 + b"}]", ".json"))
        assert [type(i) for i in items] == [Rejected] and "digits" in items[0].message
        return
    items_in = recs if shape != "object" else recs[:1]
    if shape == "object" and not items_in:
        return
    doc = {"articles": items_in} if shape == "wrapped" else (items_in[0] if shape == "object" else items_in)
    path = write(json.dumps(doc).encode("utf-8", "surrogatepass"), ".json")
    items = read(path)
    expect_records(items, [(f"{path}: record {n}", rec if _utf8(rec) else None)
                           for n, rec in enumerate(items_in, start=1)] if all(_utf8(r) for r in items_in) else [])


# CSV -------------------------------------------------------------------------------------

HEADER = ["id", "title", "summary", "body", "category", "tags", "published"]
csv_cell = st.one_of(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
                     st.sampled_from(PAYLOADS[:5] + ('a "quoted" cell', "multi\nline", "x" * 2001, "2024-02-30")))


@budget(0.2)
@given(data=st.data())
def test_csv(data):
    count("reader: CSV")
    rows = data.draw(st.lists(st.one_of(
        st.tuples(st.just("row"), st.tuples(clean_id, safe_text).map(list), st.lists(csv_cell, min_size=5, max_size=5)),
        st.tuples(st.just("wild"), st.lists(csv_cell, min_size=1, max_size=9), st.just([])),
        st.tuples(st.just("bad-bytes"), st.just([]), st.just([])),
    ), max_size=10))
    out = io.BytesIO()
    expected_ids: list[tuple[str, dict]] = []
    text_out = io.StringIO(newline="")
    writer = csv.writer(text_out)
    writer.writerow(HEADER)
    out.write(text_out.getvalue().encode())
    firsts: set[str] = set()
    for kind, head, tail in rows:
        text_out = io.StringIO(newline="")
        writer = csv.writer(text_out)
        if kind == "bad-bytes":
            out.write(b'bad,"\xff\xfe title"\r\n')
            continue
        cells = head + tail
        writer.writerow(cells)
        out.write(text_out.getvalue().encode())
        if len(cells) <= len(HEADER):
            mapping = dict(zip(HEADER, cells + [None] * (len(HEADER) - len(cells))))
            article = oracle(mapping)
            if article is not None and article.id not in firsts:
                firsts.add(article.id)
                expected_ids.append((article.id, mapping))
    path = write(out.getvalue(), ".csv")
    items = read(path)
    kept = [i.article for i in items if isinstance(i, Record)]
    assert [a.id for a in kept] == [i for i, _ in expected_ids]
    assert kept == [oracle(m) for _, m in expected_ids]
    assert sum(1 for i in items if isinstance(i, Rejected)) == len(rows) - len(expected_ids)


# Markdown --------------------------------------------------------------------------------

MD_PARTS = ("# Heading", "## Sub", "- item", "1. one", "> quote", "**bold**", "_em_", "`code`", "```\nfenced\n```",
            "[link](https://example.org)", "![img](x.png)", "<div>raw html</div>", "<script>alert(1)</script>",
            "| a | b |\n|---|---|\n| 1 | 2 |", "---", "***", "[" * 300, "*a" * 200, "<!-- comment -->", "\\", "&amp;")


def nested_divs(depth: int, opener: str = "<div>") -> str:
    return opener * depth + "deep" + "</div>" * depth


# Ways to open a div that a naive tag scanner misses: a quoted "<", a ">" in a quoted value.
DIV_OPENERS = ("<div>", '<div a="<">', "<div title='a>b'>", "<DIV\nclass=x>")


def toml_string(value: str) -> str:
    # JSON's string escapes are TOML's, but TOML also refuses a raw DEL.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_front(mapping: dict) -> str:
    lines = []
    for key, val in mapping.items():
        if isinstance(val, list):
            lines.append(f"{key} = [{', '.join(toml_string(v) for v in val)}]")
        else:
            lines.append(f"{key} = {toml_string(val)}")
    return "\n".join(lines)


@budget(0.2)
@given(data=st.data())
def test_markdown(data):
    count("reader: Markdown")
    style = data.draw(st.sampled_from(["yaml", "toml", "yaml-wild", "garbage", "none", "bomb"]))
    parts = data.draw(st.lists(st.one_of(st.sampled_from(MD_PARTS), text), max_size=8))
    body = "\n\n".join(parts)
    deep = data.draw(st.sampled_from([0, 0, 30, MAX_NESTING + 500]))
    # A paragraph opening with "<!--" starts an HTML comment block; never closed, the divs
    # after it are comment text, to the HTML parser too: they nest nothing.
    in_comment = any(part.startswith("<!--") and "-->" not in "\n\n".join(parts[i:])
                     for i, part in enumerate(parts))
    if deep:
        body += "\n\n" + nested_divs(deep) + "\n"
    clean = None
    if style in ("yaml", "toml"):
        clean = data.draw(clean_record)
        front = yaml.safe_dump(clean, allow_unicode=True) if style == "yaml" else toml_front(clean)
        fence = "---" if style == "yaml" else "+++"
        doc = f"{fence}\n{front}\n{fence}\n{body}"
    elif style == "yaml-wild":
        doc = "---\n" + yaml.safe_dump(data.draw(wild_record), allow_unicode=True) + "---\n" + body
    elif style == "garbage":
        doc = "---\n" + data.draw(st.sampled_from(["title: [unclosed", "date: 2024-13-45", "title: " + "[" * 5000,
                                                     "a: &a [x]\nb: *c", "- just\n- a list", "title: 1" + "1" * 5000,
                                                     "? [a]\n: b", "title: !!python/object:os.system x"]))
        doc += "\n---\n" + body
    elif style == "bomb":
        levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in range(1, 9):
            levels.append(f"l{i}: &l{i} [" + ", ".join([f"*{'a' if i == 1 else 'l' + str(i - 1)}"] * 10) + "]")
        doc = "---\n" + "\n".join(levels) + "\ntitle: *l8\ndate: *l8\nstatus: *l8\n---\nbody\n"
    else:
        doc = body
    path = write(doc.encode("utf-8", "surrogatepass"), data.draw(st.sampled_from([".md", ".markdown"])))
    items = read(path)
    assert len(items) == 1, items
    if style == "bomb":
        assert isinstance(items[0], Rejected) and "values" in items[0].message
    if clean is not None:
        if deep > MAX_NESTING and not in_comment:
            assert isinstance(items[0], Rejected) and "nests more than" in items[0].message
        else:
            assert isinstance(items[0], Record), items[0]
            assert items[0].article.id == clean["id"] and items[0].article.title == oracle(clean).title


# HTML ------------------------------------------------------------------------------------

HTML_PARTS = ("<p>para", "<br>", "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "<style>p{}</style>",
              "<nav>menu</nav>", "<table><tr><td>cell", "<ul><li>a<li>b</ul>", "<b><i>mis</b>nested</i>",
              "<!-- c -->", "<svg><path/><path/></svg>", "&amp;&lt;&#0;&#x110000;", "</div></div>", "<template>t",
              "<a href='javascript:alert(1)'>x</a>", "<h1>Heading</h1>", "<div/>" * 3)


@budget(0.2)
@given(data=st.data())
def test_html_pages(data):
    count("reader: HTML")
    clean = data.draw(st.booleans())
    title = data.draw(safe_text if clean else text)
    page_id = data.draw(clean_id)
    meta = "".join(f'<meta name="{n}" content="{html.escape(data.draw(text))}">'
                   for n in data.draw(st.lists(st.sampled_from(["description", "keywords", "author", "og:title",
                                                                 "article:published_time", "kindred:category"]),
                                               max_size=4, unique=True)))
    depth = data.draw(st.sampled_from([0, 20, 200, MAX_NESTING + 200, 20_000]))
    opener = data.draw(st.sampled_from(DIV_OPENERS))
    body = "".join(data.draw(st.lists(st.one_of(st.sampled_from(HTML_PARTS), text), max_size=10)))
    doc = (f'<!doctype html><html><head><title>{html.escape(title)}</title>'
           f'<meta name="kindred:id" content="{page_id}">{meta if not clean else ""}</head>'
           f"<body><main>{nested_divs(depth, opener) if depth else ''}{body if not clean else html.escape(body)}"
           "</main></body></html>")
    raw = doc.encode("utf-8", "surrogatepass")
    if not clean and data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + data.draw(st.binary(max_size=20)) + raw[at:]
    items = read(write(raw, data.draw(st.sampled_from([".html", ".htm"]))))
    assert len(items) == 1, items
    if clean:
        if depth > MAX_NESTING:
            assert isinstance(items[0], Rejected) and "nests more than" in items[0].message
        else:
            assert isinstance(items[0], Record), items[0]
            assert items[0].article.id == page_id and items[0].article.title == plain_title(title)


# WordPress exports -----------------------------------------------------------------------

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
WXR_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">\n<channel>\n')
HOSTILE_DOCTYPES = (
    '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
    '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">',
    '<!DOCTYPE rss [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>',
)


def xml_text(value: str) -> str:
    return xml_escape(_XML_INVALID.sub("", value))


def cdata(value: str) -> str:
    return "<![CDATA[" + _XML_INVALID.sub("", value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


@budget(0.2)
@given(data=st.data())
def test_wordpress_exports(data):
    count("reader: WXR")
    items_xml, expected = [], []
    for number in range(1, data.draw(st.integers(0, 6)) + 1):
        post_id = data.draw(st.one_of(st.integers(1, 10**6).map(str), clean_id, st.just("")))
        post_type = data.draw(st.sampled_from(["post", "page", "attachment", "nav_menu_item", ""]))
        status = data.draw(st.sampled_from(["publish", "publish", "draft", "private", "inherit"]))
        title = data.draw(st.one_of(safe_text, text))
        body = data.draw(st.one_of(text, st.sampled_from(HTML_PARTS), st.just(nested_divs(MAX_NESTING + 100))))
        password = data.draw(st.sampled_from(["", "", "secret"]))
        items_xml.append(
            f"<item><title>{xml_text(title)}</title><link>{xml_text(data.draw(text))}</link>"
            f"<content:encoded>{cdata(body)}</content:encoded><excerpt:encoded>{cdata(data.draw(text))}</excerpt:encoded>"
            f"<wp:post_id>{xml_text(post_id)}</wp:post_id><wp:status>{status}</wp:status>"
            f"<wp:post_type>{post_type}</wp:post_type><wp:post_password>{password}</wp:post_password>"
            f"<category domain=\"post_tag\">{cdata(data.draw(text))}</category></item>\n")
        expected.append((number, post_id, post_type, status, password, body))
    doc = WXR_HEAD + "".join(items_xml) + "</channel>\n</rss>\n"
    hostile = data.draw(st.sampled_from((None, None, None) + HOSTILE_DOCTYPES))
    if hostile:
        doc = doc.replace("<rss ", hostile + "\n<rss ", 1)
    raw = doc.encode()
    mutated = data.draw(st.sampled_from([False, False, True]))
    if mutated:
        cut = data.draw(st.integers(0, len(raw)))
        raw = raw[:cut] + data.draw(st.sampled_from([b"", b"\xff", b"<", b"&lol;", b"]]>"]))
    path = write(raw, ".xml")
    items = read(path)
    if mutated:
        return
    if hostile:
        assert len(items) == 1 and isinstance(items[0], Rejected) and "unsafe XML" in items[0].message
        return
    assert len(items) == len(expected)
    seen: set[str] = set()
    for item, (number, post_id, post_type, status, password, body) in zip(items, expected):
        assert item.location == f"{path}: item {number}" or item.location.startswith(f"{path}: item {number}")
        if post_type not in ("post", "page") or status != "publish" or password:
            assert isinstance(item, Skipped), item
        elif "deep" in body and body.startswith("<div>"):
            assert isinstance(item, Rejected) and "nests more than" in item.message
        elif isinstance(item, Record):
            assert item.article.id == post_id and post_id not in seen
            seen.add(post_id)
        else:
            assert not post_id or post_id in seen or "longer than" in item.message or "control" in item.message, item


# Mutations of real files -----------------------------------------------------------------

SEEDS = sorted(p for p in (FIXTURES / "sources").rglob("*") if p.is_file()) + [
    SAMPLE / "more-articles.jsonl", SAMPLE / "wordpress-export.xml", SAMPLE / "pages" / "inhalants-risks.html",
    SAMPLE / "articles" / "cannabis" / "does-weed-have-calories.md"]
INSERTS = (b"\xff", b"\x00", b"<div>" * (MAX_NESTING + 10), b'<div a="<">' * (MAX_NESTING + 10), b"[" * 3000, b'"', b"\n", b"---\n", b"]]>", b"&lol;",
           b"\xef\xbb\xbf", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', b"9" * 5000)


@budget(0.3)
@given(data=st.data())
def test_mutated_real_files(data):
    count("reader: mutated real files")
    seed = data.draw(st.sampled_from(SEEDS))
    raw = bytearray(seed.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        at = data.draw(st.integers(0, len(raw)))
        if op == "flip" and raw:
            at = min(at, len(raw) - 1)
            raw[at] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            raw[at:at] = data.draw(st.one_of(st.sampled_from(INSERTS), st.binary(max_size=16)))
        elif op == "delete":
            del raw[at:at + data.draw(st.integers(1, 64))]
        elif op == "duplicate":
            raw[at:at] = raw[at:at + data.draw(st.integers(1, 256))]
        else:
            del raw[at:]
    suffix = "".join(seed.suffixes[-1:])
    if data.draw(st.booleans()) and suffix in (".jsonl", ".csv"):
        packed = gzip.compress(bytes(raw))
        cut = data.draw(st.sampled_from([len(packed), len(packed) // 2, 12]))
        read(write(packed[:cut], suffix + ".gz"))
    else:
        read(write(bytes(raw), suffix))


def test_duplicate_ids_across_files_name_the_first(tmp_path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.csv"
    a.write_text('{"id": "same", "title": "First"}\n')
    b.write_text("id,title\nsame,Second\nother,Other\n")
    items = list(read_paths([a, b]))
    assert [type(i) for i in items] == [Record, Rejected, Record]
    assert items[1].location == f"{b}:2" and f"first seen at {a}:1" in items[1].message
