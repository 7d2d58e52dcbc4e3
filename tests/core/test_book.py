"""The whole book at profile ``smoke``: built once, then checked as HTML and in a browser.

The browser tests drive Debian's Chromium (``/usr/bin/chromium``, or
``$CHROMIUM``) through Playwright, serve the site on 127.0.0.1 and refuse every
other request, so they also prove the book works offline. Without Chromium
they are skipped locally and FAIL when ``$CI`` is set.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from reprolib.core import book

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
STATE_MIME = "application/vnd.jupyter.widget-state+json"

try:
    PAGES = book.toc_pages(ROOT)
except book.BookError as exc:  # reported by test_toc_is_valid, keep collection alive
    PAGES, TOC_ERROR = [], exc
else:
    TOC_ERROR = None
PAGE_IDS = [book.chapter_key(p) for p in PAGES]
NOTEBOOKS = [p for p in PAGES if book.is_notebook(ROOT / p)]
NOTEBOOK_IDS = [book.chapter_key(p) for p in NOTEBOOKS]


# ----------------------------------------------------------------------- build
@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Run the real pipeline once: papermill at profile smoke, then jupyter-book -W."""
    out = tmp_path_factory.mktemp("book")
    t0 = time.perf_counter()
    index = book.build_book(profile="smoke", out_dir=out, progress=False, root=ROOT)
    print(f"\nsmoke book built in {time.perf_counter() - t0:.1f} s")
    return index.parent, out / "src"


def test_myst_labels_are_unique_across_the_book():
    """jupyter-book -W fails on a label two pages define (e.g. two chapters' ``(live-explorer)=``); catch it in seconds."""
    seen: dict[str, str] = {}
    for page in PAGES:
        source = (ROOT / page).with_suffix(".md")
        if not source.exists():
            continue
        for label in re.findall(r"^\(([^)\s]+)\)=\s*$", source.read_text(), flags=re.M):
            assert label not in seen, f"label {label!r} is defined in {seen[label]} and {page}: prefix it with the chapter slug"
            seen[label] = str(page)


def test_toc_is_valid():
    assert TOC_ERROR is None, str(TOC_ERROR)
    assert PAGES and PAGES[0].stem == "intro", "the toc root must be book/intro"


def test_index_exists(built):
    html_dir, _ = built
    assert (html_dir / "index.html").is_file()


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_toc_page_has_html(built, page):
    html_dir, _ = built
    assert (html_dir / page.with_suffix(".html")).is_file(), f"{page} produced no HTML"


def _image_outputs(nb_path: Path) -> int:
    """Static figures in an executed notebook (widgets are checked in the browser)."""
    nb = nbformat.read(nb_path, as_version=4)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "remove-output" in cell.metadata.get("tags", []) \
                or "remove-cell" in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data and VIEW_MIME not in data:
                count += 1
    return count


def test_chapter_sources_are_markdown_notebooks_only():
    """One source per chapter: book/<slug>.md with a parameters cell starting with `profile`; no committed .ipynb."""
    assert not list((ROOT / "book").glob("*.ipynb")), "chapters are MyST markdown notebooks, not .ipynb"
    for page in NOTEBOOKS[1:]:
        nb = book.read_notebook(ROOT / page)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), page
        assert code[0].source.splitlines()[0] == 'profile = "cpu"', page
        src = "\n".join(c.source for c in code)
        for banned in ("optimizer.step", ".backward(", "nn.Module", "def forward"):
            assert banned not in src, f"{page}: training code ({banned}) belongs in reprolib, not in the notebook"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_every_notebook_page_was_executed_and_shows_outputs(built, page):
    """A page that is rendered without being executed would look fine and show nothing: check both stages."""
    html_dir, staging = built
    nb = nbformat.read(staging / page.with_suffix(".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), f"{page}: not every code cell was executed"
    shown = [c for c in code if c.get("outputs") and "remove-cell" not in c.metadata.get("tags", [])
             and "remove-output" not in c.metadata.get("tags", [])]
    assert shown, f"{page}: no code cell has an output"
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((html_dir / page.with_suffix(".html")).read_text(), "html.parser")
    assert soup.select("div.cell_output"), f"{page}: the HTML shows no cell output"


@pytest.mark.parametrize("page", NOTEBOOKS[1:], ids=NOTEBOOK_IDS[1:])
def test_injected_parameters_are_collapsed_in_the_rendered_page(built, page):
    from bs4 import BeautifulSoup

    html_dir, _ = built
    soup = BeautifulSoup((html_dir / page.with_suffix(".html")).read_text(), "html.parser")
    injected = soup.select("div.tag_injected-parameters")
    assert injected, f"{page}: papermill's injected-parameters cell is missing"
    assert all("tag_hide-cell" in cell["class"] for cell in injected), f"{page}: injected parameters are shown expanded"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_pages_contain_their_figures(built, page):
    html_dir, staging = built
    html_path = html_dir / page.with_suffix(".html")
    text = html_path.read_text()
    srcs = re.findall(r'<img[^>]*\bsrc="([^"]+)"', text)
    pngs = [s for s in srcs if s.startswith("data:image/png") or s.endswith(".png")]
    expected = _image_outputs(staging / page.with_suffix(".ipynb"))
    assert len(pngs) >= expected, f"{page}: {expected} PNG outputs, {len(pngs)} <img> in HTML"
    for src in pngs:
        if not src.startswith("data:"):
            assert (html_path.parent / src).resolve().is_file(), f"{page}: {src} missing"


ERROR_MARKERS = [
    (re.compile(r"Traceback \(most recent call last\)"), "Python traceback"),
    (re.compile(r"highlight-ipythontb"), "error output block"),
    (re.compile(r"papermill-error-cell|An Exception was encountered"), "papermill error cell"),
    (re.compile(r"\b[A-Z]\w*(?:Error|Exception): "), "exception message"),
]


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_no_error_output_in_html(built, page):
    """Scan the rendered cell outputs for tracebacks, like NeuroMatch's parse_html_for_errors."""
    from bs4 import BeautifulSoup

    html_dir, _ = built
    soup = BeautifulSoup((html_dir / page.with_suffix(".html")).read_text(), "html.parser")
    problems = []
    for out in soup.select("div.cell_output"):
        text = str(out)
        problems += [f"{label}: {m.group(0)!r}" for rx, label in ERROR_MARKERS
                     if (m := rx.search(text))]
    assert not problems, f"{page}: " + "; ".join(problems)


def test_intro_shows_the_scoreboard_and_links_its_csv(built):
    """Every chapter's verdict rows reach the first page, and the same rows download as scoreboard.csv."""
    import csv

    from bs4 import BeautifulSoup

    html_dir, _ = built
    intro = html_dir / PAGES[0].with_suffix(".html")
    soup = BeautifulSoup(intro.read_text(), "html.parser")
    links = [a["href"] for a in soup.select("a[href]") if a["href"].endswith(book.SCOREBOARD_CSV)]
    assert links, "the intro does not link scoreboard.csv"
    targets = [(intro.parent / href).resolve() for href in links]
    assert all(t.is_file() for t in targets), f"scoreboard link(s) lead nowhere: {links}"
    assert (html_dir / book.SCOREBOARD_CSV).is_file()
    with targets[0].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert targets[0].read_bytes() == (html_dir / book.SCOREBOARD_CSV).read_bytes()
    assert list(rows[0])[:7] == ["chapter", "claim", "reported", "ours", "n", "verdict", "test"]
    assert {r["profile"] for r in rows} == {"smoke"}
    assert {r["chapter"] for r in rows} == {p.stem for p in NOTEBOOKS[1:]}, "a chapter published no verdicts"
    tables = [t for t in soup.select("table") if "verdict" in t.get_text()]
    shown = " ".join(" ".join(t.get_text(" ").split()) for t in tables)
    for r in rows:  # every row of the CSV is on the page, with its verdict
        assert " ".join(r["claim"].split())[:60] in shown, r["claim"]
    assert sum(shown.count(v) for v in ("reproduced", "equivalent", "inconclusive", "not run")) >= len(rows)


def test_timings_recorded_for_every_chapter(built):
    timings = book.read_timings(ROOT)
    for page in NOTEBOOKS[1:]:
        entry = timings[book.chapter_key(page)]["smoke"]
        assert entry["seconds"] > 0 and entry["hardware"]["cores"] >= 1


# ----------------------------------------------------------- errors are clear
def test_missing_toc_entry_is_named(tmp_path):
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: ghost\n")
    (tmp_path / "intro.md").write_text("# Intro\n")
    with pytest.raises(book.BookError, match="'ghost'.*ghost.ipynb"):
        book.toc_pages(tmp_path)


def test_failing_notebook_names_the_chapter(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "cpu"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise ValueError(f'boom at {profile}')"),
    ], metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}})
    src = tmp_path / "broken.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(book.ChapterExecutionError, match=r"'book/broken'.*ValueError: boom at smoke"):
        book.execute_chapter(src, tmp_path / "out.ipynb", "smoke", cwd=tmp_path, chapter="book/broken")
    assert (tmp_path / "out.failed.ipynb").is_file()  # kept for the traceback
    assert not (tmp_path / "out.ipynb").exists()  # never rendered as if it were fine


def test_kernel_runs_this_interpreter():
    book.check_kernel()


# --------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).is_file():
        msg = (f"Chromium not found at {CHROMIUM}: install Debian's `chromium` "
               "(apt-get install chromium) or set $CHROMIUM")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        pytest.fail("playwright is not installed: pip install -r requirements.txt")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site(built):
    """The built HTML served on 127.0.0.1 on a free port (file:// would hide request errors)."""
    html_dir, _ = built
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(html_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


class PageProbe:
    """Open one page, recording JS errors and every request that is not to our server."""

    def __init__(self, browser, base_url):
        self.base = urlparse(base_url)
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.offsite: list[str] = []
        self.failed: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console.error: {m.text} @ {m.location.get('url')}"))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(
            f"{r.url} (HTTP {r.status})"))

    def _route(self, route):
        url = urlparse(route.request.url)
        if url.scheme in ("data", "blob") or url.netloc == self.base.netloc:
            route.continue_()
        else:
            self.offsite.append(route.request.url)
            route.abort()

    def open(self, url):
        self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")
        n_views = self.page.locator(f'script[type="{VIEW_MIME}"]').count()
        if n_views:  # the html-manager renders on window "load"; wait for every view
            try:
                self.page.wait_for_function(
                    "n => document.querySelectorAll('.widget-subarea').length >= n",
                    arg=n_views, timeout=15_000)
            except Exception as exc:  # playwright TimeoutError: say why, not just "timeout"
                raise AssertionError(
                    f"{url}: {n_views} widget(s) never rendered; off-site requests: "
                    f"{self.offsite}; failed: {self.failed}; JS errors: {self.errors}") from exc
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def probe(chromium, site):
    p = PageProbe(chromium, site)
    yield p
    p.close()


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_page_loads_offline_without_js_errors(probe, site, page):
    pg = probe.open(f"{site}/{page.with_suffix('.html').as_posix()}")
    pg.wait_for_timeout(300)  # late console errors (MathJax, widgets)
    assert not probe.offsite, f"{page} tried to reach the network: {probe.offsite}"
    assert not probe.failed, f"{page} failed requests: {probe.failed}"
    assert not probe.errors, f"{page} JavaScript errors: {probe.errors}"
    assert pg.get_by_text("Error displaying widget").count() == 0, f"{page}: a widget failed"


def test_index_redirects_to_the_intro(probe, site):
    pg = probe.open(f"{site}/index.html")
    pg.wait_for_url(re.compile(r"/book/intro\.html$"))
    assert not probe.errors and not probe.offsite and not probe.failed


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_figures_are_visible(probe, site, page):
    pg = probe.open(f"{site}/{page.with_suffix('.html').as_posix()}")
    imgs = pg.locator("div.cell_output img")
    broken = []
    for i in range(imgs.count()):
        img = imgs.nth(i)
        if not img.is_visible():  # e.g. the explorer shows one image at a time
            continue
        img.scroll_into_view_if_needed()
        ok = img.evaluate("i => i.complete && i.naturalWidth > 0")
        box = img.bounding_box()
        if not ok or not box or box["width"] < 10 or box["height"] < 10:
            broken.append(img.evaluate("i => i.outerHTML.slice(0, 120)"))
    assert not broken, f"{page}: images not rendered: {broken}"


# ----------------------------------------------------------- explorer in browser
def _widget_state(html: str) -> dict:
    m = re.search(rf'<script type="{re.escape(STATE_MIME)}">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))["state"] if m else {}


def _ref(value: str) -> str:
    return value.removeprefix("IPY_MODEL_")


def _expected_images(state: dict, box_id: str):
    """(controls, {index tuple: sha1 of PNG}) for one explorer, read from the saved state."""
    box = state[box_id]["state"]
    hbox, stack = (_ref(c) for c in box["children"][-2:])
    controls = [state[_ref(c)] for c in state[hbox]["state"]["children"]]
    images: dict[tuple, str] = {}

    def walk(model_id, prefix):
        model = state[model_id]
        if model["model_name"] == "ImageModel":
            buf = next(b for b in model.get("buffers", []) if b["path"] == ["value"])
            images[prefix] = hashlib.sha1(base64.b64decode(buf["data"])).hexdigest()
            return
        for i, child in enumerate(model["state"]["children"]):
            walk(_ref(child), prefix + (i,))

    walk(stack, ())
    return controls, images


SHOWN_SHA1 = """async el => {
  const img = [...el.querySelectorAll('img')].find(i => i.offsetParent !== null);
  if (!img) return null;
  const buf = await (await fetch(img.src)).arrayBuffer();
  const h = await crypto.subtle.digest('SHA-1', buf);
  return {src: img.src, sha1: [...new Uint8Array(h)].map(b => b.toString(16).padStart(2, '0')).join('')};
}"""

FIND_EXPLORERS = f"""() => [...document.querySelectorAll('script[type="{VIEW_MIME}"]')]
  .map(s => ({{id: JSON.parse(s.textContent).model_id,
               has: !!(s.previousElementSibling &&
                       s.previousElementSibling.querySelector('.reprolib-explorer'))}}))"""


def _set_control(explorer, k, model, index, current):
    """Move control k of a rendered explorer to ``index`` like a reader would."""
    ctrl = explorer.locator(":scope > .widget-hbox > *").nth(k)
    if model["model_name"] == "DropdownModel":
        ctrl.locator("select").select_option(index=index)
    else:  # SelectionSlider (noUiSlider): keyboard on the handle moves one option per key
        handle = ctrl.locator(".noUi-handle")
        handle.focus()
        key = "ArrowRight" if index > current else "ArrowLeft"
        for _ in range(abs(index - current)):
            handle.press(key)


EXPLORER_PAGES = NOTEBOOKS


@pytest.mark.parametrize("page", EXPLORER_PAGES, ids=[book.chapter_key(p) for p in EXPLORER_PAGES])
def test_explorer_controls_switch_images_in_the_browser(probe, site, built, page):
    """Every control of every explorer changes the shown image, to the one precomputed for it."""
    html_dir, _ = built
    state = _widget_state((html_dir / page.with_suffix(".html")).read_text())
    pg = probe.open(f"{site}/{page.with_suffix('.html').as_posix()}")
    found = [e["id"] for e in pg.evaluate(FIND_EXPLORERS) if e["has"]]
    if not found:
        pytest.skip(f"{page} has no explorer")
    for n, box_id in enumerate(found):
        controls, expected = _expected_images(state, box_id)
        explorer = pg.locator(".reprolib-explorer").nth(n)
        explorer.scroll_into_view_if_needed()
        index = [0] * len(controls)
        shown = explorer.evaluate(SHOWN_SHA1)
        assert shown and shown["sha1"] == expected[tuple(index)], f"{page}: wrong initial image"
        for k, model in enumerate(controls):
            n_options = len(model["state"]["_options_labels"])
            if n_options < 2:
                continue
            before = shown
            target = n_options - 1
            _set_control(explorer, k, model, target, index[k])
            index[k] = target
            pg.wait_for_function(
                "([el, src]) => { const i = [...el.querySelectorAll('img')]"
                ".find(i => i.offsetParent !== null); return i && i.src !== src; }",
                arg=[explorer.element_handle(), before["src"]], timeout=5_000)
            shown = explorer.evaluate(SHOWN_SHA1)
            assert shown["src"] != before["src"]
            assert shown["sha1"] == expected[tuple(index)], (
                f"{page}: control {k} -> {index} shows the wrong precomputed image")
    assert not probe.errors, probe.errors


def test_cold_and_warm_times_are_both_kept(tmp_path):
    hw = {"cpu": "test"}
    book.record_timing("book/x", "cpu", 600.0, root=tmp_path, hardware=hw, trained=12)
    book.record_timing("book/x", "cpu", 30.0, root=tmp_path, hardware=hw, trained=0)
    entry = book.read_timings(tmp_path)["book/x"]["cpu"]
    assert (entry["cold_seconds"], entry["cold_trained_runs"], entry["warm_seconds"], entry["seconds"]) == (600.0, 12, 30.0, 30.0)
    book.record_timing("book/x", "cpu", 90.0, root=tmp_path, hardware=hw, trained=1)
    entry = book.read_timings(tmp_path)["book/x"]["cpu"]
    assert (entry["cold_seconds"], entry["warm_seconds"]) == (90.0, 30.0)
