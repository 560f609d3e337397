"""Real servers for the browser tests and docs/screenshots.py (importable without pytest).

- `KindredServer`: `python -m kindred serve` (gunicorn) on 127.0.0.1 and a free port, configured
  only through KINDRED_* variables, as a deployment would be.
- `ThirdPartySite`: a static site on another port, so another origin, that embeds the widget
  exactly as a site owner would: a div and an async script tag, or an iframe.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from search.config import Settings, load_settings, setting_fields

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
LOCALHOST = "127.0.0.1"

# Debian's Chromium, never a browser downloaded by `playwright install`.
CHROMIUM_LAUNCH = {
    "executable_path": "/usr/bin/chromium",
    "headless": True,
    "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--no-first-run", "--disable-sync", "--disable-quic"],
}

# The articles the third-party page embeds widgets for.
WIDGET_ARTICLE = "does-weed-have-calories"
SECOND_ARTICLE = "ketamine-addiction-treatment"
# An article's own URL on the publisher's site (from the WordPress export): the widget finds
# the article by URL when the page gives data-kindred-related-url instead of an id.
URL_ARTICLE_URL = "https://kindred-health.example.org/stimulant-overdose-signs/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def sample_site_settings(tmp: Path) -> Settings:
    """The bundled sample site's own settings (kindred.toml), writing only under `tmp`."""
    overrides = {"index_dir": str(Path(tmp) / "index"), "analytics_db": str(Path(tmp) / "analytics.sqlite"),
                 "admin_db": str(Path(tmp) / "admin.sqlite")}
    return load_settings(REPO / "kindred.toml", overrides, environ={}, look_in_cwd=False)


# WordPress's theme test data has a post whose title is one 85-letter word: a layout that
# cannot wrap it widens past the window.
LONG_WORD = "Taumatawhakatangihangakoauauotamateaturipukakapikimaungahoronukupokaiwhenuakitanatahu"
LONG_TITLE_ARTICLE = {
    "id": "long-word-title",
    "title": LONG_WORD,
    "summary": f"{LONG_WORD} is a hill in New Zealand with one of the longest place names in the world.",
    "body": f"{LONG_WORD} is a hill in Hawke's Bay, New Zealand. Walkers who climb it for the view report "
            "what research on exercise and mood suggests: a steady uphill walk lifts mood and eases anxiety, "
            "and walking with others helps people in recovery keep a routine. The name, 85 letters long, "
            "tests every layout that shows it.",
    "category": "News",
    "tags": ["exercise", "mental health"],
    "published": "2026-01-15",
}
# An article whose widget shows the long-title article: pinned there, as an editor would, so
# the layout tests do not hang on which lists the text model puts a hill in New Zealand in.
LONG_TITLE_SOURCE = "research-roundup-2026"


def build_sample_index(settings: Settings) -> Settings:
    """Index the sample site, plus the long-title article (pinned to LONG_TITLE_SOURCE's
    list), with `settings` (once; the servers only read it)."""
    from indexer.build import Indexer

    settings = settings.replace(related_pins={**settings.related_pins, LONG_TITLE_SOURCE: [LONG_TITLE_ARTICLE["id"]]})

    extra = settings.resolve(settings.index_dir).parent / "long-title.jsonl"
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_text(json.dumps(LONG_TITLE_ARTICLE) + "\n", encoding="utf-8")
    Indexer(settings).build([SAMPLE, extra])
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting that differs from its default, as the KINDRED_* variable that sets it."""
    defaults = Settings()
    env = {}
    for f in setting_fields():
        value = getattr(settings, f.name)
        # Paths always: a relative default would resolve against the server's cwd.
        if value == getattr(defaults, f.name) and not isinstance(value, Path):
            continue
        if f.name == "sources":  # paths, relative to the settings file
            value = ",".join(str(settings.resolve(Path(v)).resolve()) for v in value)
        elif isinstance(value, (dict, list)):
            value = json.dumps(value) if isinstance(value, dict) else ",".join(map(str, value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, Path):
            value = str(settings.resolve(value).resolve())
        env["KINDRED_" + f.name.upper()] = str(value)
    return env


class KindredServer:
    """`python -m kindred serve --workers 2` in a subprocess, stopped by `stop()` (or `with`)."""

    def __init__(self, settings: Settings, workdir: Path, workers: int = 2, startup_timeout: float = 30.0):
        self.settings = settings
        self.workdir = Path(workdir)
        self.workers = workers
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        self.log_path = self.workdir / f"kindred-{self.port}.log"
        # The server's temporary files (gunicorn's, the shared metrics directory) go here.
        self.tmp_dir = self.workdir / f"tmp-{self.port}"
        self._process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> "KindredServer":
        # Only our settings: no KINDRED_* from the caller's shell, no kindred.toml (the cwd is
        # the temp dir), so the server sees exactly what the test configured.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINDRED_")}
        env.update(settings_env(self.settings))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(self.tmp_dir)
        if len(str(self.workdir)) < 80:  # a Unix socket path has at most 107 bytes
            # gunicorn's control socket goes to $XDG_RUNTIME_DIR (else ~/.gunicorn): keep ours
            # here rather than take over the one of a server the developer is running.
            env["XDG_RUNTIME_DIR"] = str(self.workdir)
        self._log = open(self.log_path, "wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "kindred", "serve", "--host", LOCALHOST, "--port", str(self.port),
             "--workers", str(self.workers)],
            cwd=self.workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_healthy()
            self._warm_up()
        except BaseException:
            self.stop()
            raise
        return self

    def _warm_up(self) -> None:
        """Each worker opens the index on its first request (about a second): make several
        requests at once so every worker does that now, not in the middle of a test."""
        paths = ["/", f"/articles/{WIDGET_ARTICLE}", "/api/v1/suggest?q=ke", f"/api/v1/related/{WIDGET_ARTICLE}",
                 f"/widget/related/{WIDGET_ARTICLE}", "/widget.js"] * self.workers

        def get(path: str) -> None:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                response.read()

        threads = [threading.Thread(target=get, args=(path,)) for path in paths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"kindred serve exited with {self._process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kindred serve did not answer /healthz within {self.startup_timeout}s:\n{self.log()}")
            time.sleep(0.1)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def worker_pids(self) -> list[int]:
        """The gunicorn workers running now (the server's child processes)."""
        pid = self._process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, graceful: bool = True) -> None:
        """Graceful (SIGTERM) waits up to gunicorn's graceful_timeout for workers, which a
        browser's idle pre-connected socket holds for all of it; quick (SIGQUIT) does not."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            if graceful:
                process.terminate()  # gunicorn: graceful shutdown of the arbiter and its workers
            else:
                process.send_signal(signal.SIGQUIT)  # gunicorn: quick shutdown
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        elif process is not None:
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the server and every process it started at once, as `kill -9` of its whole
        service would: nothing gets to clean up. `start()` brings it back on the same port."""
        process, self._process = self._process, None
        if process is not None:
            family = _descendants(process.pid)
            for pid in (process.pid, *family):  # the master first, so it forks no new worker
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "KindredServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _descendants(pid: int) -> list[int]:
    """Children, grandchildren... of a process (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class ServerThread:
    """A socketserver on 127.0.0.1 answering from a daemon thread: start(), stop(), or `with`."""

    def __init__(self, server: socketserver.BaseServer, name: str):
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self.url = f"http://{LOCALHOST}:{self.port}"
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ThirdPartySite(ServerThread):
    """Static pages from a temp directory on their own port: another origin than Kindred."""

    def __init__(self, root: Path, pages: dict[str, str]):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for name, text in pages.items():
            (self.root / name).write_text(text, encoding="utf-8")
        super().__init__(ThreadingHTTPServer((LOCALHOST, 0), partial(_QuietHandler, directory=str(self.root))),
                         "third-party-site")


# The publisher's own theme. Its last rules are the blunt kind that break ordinary embeds
# (every link red and huge, every list squared and indented, every h2 italic serif): the
# widget renders into a Shadow DOM, so none of them reach it.
SITE_CSS = """
  body { margin: 0; background: #fbf8f3; color: #2b2622; font: 18px/1.7 Georgia, "DejaVu Serif", serif; }
  .site-header { background: #23352b; color: #f3efe6; padding: 18px 0; }
  .site-header .inner, .page { max-width: 720px; margin: 0 auto; padding: 0 24px; }
  .site-title { font: 700 22px/1.2 Georgia, serif; letter-spacing: .01em; margin: 0; }
  .site-tagline { margin: 2px 0 0; font-size: 14px; opacity: .75; }
  .kicker { margin: 48px 0 8px; font: 600 13px/1 system-ui, sans-serif; letter-spacing: .12em; text-transform: uppercase; color: #8a6d3b; }
  h1 { font-size: 40px; line-height: 1.15; margin: 0 0 12px; }
  .byline { color: #7b716a; font-size: 15px; margin: 0 0 28px; }
  .read-next, .more-reading { margin: 40px 0; padding-top: 28px; border-top: 2px solid #e8e0d4; }
  .more-reading h3 { font: 600 14px/1 system-ui, sans-serif; letter-spacing: .1em; text-transform: uppercase; color: #8a6d3b; margin: 0 0 16px; }
  .pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 24px; }
  .themed { --kindred-accent: #8a4b16; --kindred-border: #eadfce; --kindred-bg: #fffdf9; --kindred-radius: 4px; }
  .site-footer { border-top: 1px solid #e8e0d4; margin-top: 48px; padding: 24px 0 64px; font-size: 15px; color: #7b716a; }

  /* Blunt theme rules that would restyle an ordinary embed. */
  a { color: red !important; font-size: 40px; }
  ul, li { list-style: square; margin: 0 0 1.5em 2em; }
  h2 { font: italic 40px/1 Georgia, serif; color: red; }
  strong, span { text-transform: uppercase; color: red; }
  .read-next, .pair { text-transform: uppercase; font-style: italic; letter-spacing: .2em; text-align: center; }
"""

ARTICLE_PARAGRAPHS = [
    "Cannabis flower itself contains almost no calories. The dried plant is mostly fibre, water and "
    "cannabinoids, and smoking or vaporizing it delivers none of the energy a food would. The question "
    "readers really ask is a different one, and it has a more interesting answer.",
    "What changes is appetite. THC acts on the same receptors the body uses to signal hunger, which is "
    "why a late-night snack can feel irresistible. Over weeks and months those snacks, not the plant, "
    "are what show up on a bathroom scale.",
    "Edibles are another matter. A brownie or a gummy carries the calories of its sugar, butter and flour, "
    "and the amount of cannabis in it does not change that. A typical store-bought brownie has as much "
    "energy as a small meal; a single gummy has about as much as a teaspoon of sugar.",
    "Tinctures are usually made with an oil or with alcohol. A full dropper of an oil-based tincture adds "
    "roughly the energy of a few almonds, which matters only if you take several doses a day. Beverages "
    "vary the most: some are sweetened like soda, others are close to sparkling water.",
    "Research on cannabis and body weight is mixed. Some population studies find that regular users are, "
    "on average, slightly leaner than people who never use it, but those studies cannot show cause and "
    "effect, and they say nothing about any one person's diet.",
    "Sleep is part of the picture too. Cannabis can make it easier to fall asleep at first, but heavy use "
    "tends to reduce deep sleep, and short or broken sleep is itself linked to snacking and weight gain. "
    "Cutting back often brings a few restless nights before sleep settles.",
    "Alcohol and cannabis together are a common combination, and alcohol is far richer in calories than "
    "the plant will ever be. A couple of beers or a sweet cocktail can outweigh anything else in the "
    "evening, before the snacks even arrive.",
    "People who use medical cannabis for nausea or poor appetite, for example during cancer treatment, may "
    "welcome the effect. For them the goal is the opposite, and a care team can help plan meals that make "
    "the most of the window when food appeals.",
    "If you are tracking what you eat, count what you eat: the edible, the snack, the drink. Apps that log "
    "food will not list a joint, and they do not need to. Keeping healthy snacks within reach is the most "
    "practical change most people can make.",
    "If you are worried about how cannabis affects your appetite, mood or sleep, a doctor or pharmacist can "
    "help without judgement. Remember that effects differ from person to person: start low, go slow, and "
    "keep edibles out of reach of children and pets.",
]


def third_party_page(kindred_url: str) -> str:
    """A publisher's article page with three related-articles widgets from another origin."""
    script = html.escape(f"{kindred_url}/widget.js")
    paragraphs = "\n    ".join(f"<p>{html.escape(p)}</p>" for p in ARTICLE_PARAGRAPHS)
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Does weed have calories? – The Green Ledger</title>
  <style>{SITE_CSS}</style>
</head>
<body>
  <header class="site-header"><div class="inner">
    <p class="site-title">The Green Ledger</p>
    <p class="site-tagline">Plain answers about cannabis, health and the law</p>
  </div></header>
  <main class="page">
    <p class="kicker">Health</p>
    <h1>Does weed have calories?</h1>
    <p class="byline">By Mara Okafor · 6 minute read</p>
    {paragraphs}

    <section class="read-next" id="read-next">
      <div data-kindred-related="{WIDGET_ARTICLE}"></div>
      <script async src="{script}"></script>
    </section>

    <section class="more-reading" id="more-reading">
      <h3>More from our partners</h3>
      <div class="pair">
        <div class="themed" id="second-widget" data-kindred-related="{SECOND_ARTICLE}"
             data-kindred-limit="3" data-kindred-title="Treatment, explained"></div>
        <div id="url-widget" data-kindred-related-url="{html.escape(URL_ARTICLE_URL)}"
             data-kindred-limit="3" data-kindred-title="Also worth reading"></div>
      </div>
      <script async src="{script}"></script>
    </section>
  </main>
  <footer class="site-footer"><div class="page">
    The Green Ledger · <a id="site-link" href="#top">Privacy</a>
  </div></footer>
</body>
</html>
"""


def iframe_page(kindred_url: str) -> str:
    """A publisher's page using the iframe form of the widget (no script from Kindred)."""
    src = html.escape(f"{kindred_url}/widget/related/{WIDGET_ARTICLE}")
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Iframe embed – The Green Ledger</title>
  <style>{SITE_CSS}</style>
</head>
<body>
  <main class="page">
    <h1>Does weed have calories?</h1>
    <iframe id="related-frame" title="Related articles" src="{src}" width="100%" height="300" style="border:0"></iframe>
  </main>
  <script>
    // The widget page reports its height; fit the frame to it (docs/embedding.md).
    addEventListener("message", function (event) {{
      if (event.origin !== {json.dumps(kindred_url)} || !event.data || event.data.kindred !== "resize") return;
      document.getElementById("related-frame").style.height = event.data.height + "px";
    }});
  </script>
</body>
</html>
"""


def strict_page(kindred_url: str) -> str:
    """A publisher's page with a strict Content-Security-Policy of its own: scripts and
    requests from Kindred's origin only, no inline style at all."""
    policy = (f"default-src 'none'; script-src {kindred_url}; connect-src {kindred_url}; "
              "style-src 'self'; img-src 'self'; base-uri 'none'")
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">
  <title>Strict policy – The Green Ledger</title>
</head>
<body>
  <main>
    <h1>Does weed have calories?</h1>
    <div id="strict-widget" data-kindred-related="{WIDGET_ARTICLE}"></div>
    <script async src="{html.escape(kindred_url)}/widget.js"></script>
  </main>
</body>
</html>
"""


def third_party_pages(kindred_url: str) -> dict[str, str]:
    return {"article.html": third_party_page(kindred_url), "iframe.html": iframe_page(kindred_url),
            "strict.html": strict_page(kindred_url)}


@dataclasses.dataclass
class Servers:
    kindred: KindredServer
    site: ThirdPartySite

    def stop(self) -> None:
        try:
            self.site.stop()
        finally:
            self.kindred.stop()


def start_servers(settings: Settings, workdir: Path) -> Servers:
    """Kindred on one free port, then the third-party site (which points at it) on another."""
    kindred = KindredServer(settings, workdir).start()
    try:
        site = ThirdPartySite(Path(workdir) / "third-party", third_party_pages(kindred.url)).start()
    except BaseException:
        kindred.stop()
        raise
    return Servers(kindred, site)
