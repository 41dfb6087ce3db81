"""The documentation site, checked as a reader sees it: in a real headless Chromium, offline.

The site is built by the README's docs command (between its ``docs`` markers).  Here the
build is brought up to date (an incremental Sphinx build: seconds when nothing changed),
then pages are opened in Debian's ``chromium`` through ``chromedriver`` (selenium), served
from ``127.0.0.1`` with every other address sent to a closed proxy port, and the rendered
DOM is asked whether the math is typeset, every figure has loaded and the console is clean.
Every internal link of every page is resolved on disk, and every public name of
``ils_ref.__all__`` must be in the API reference's inventory.

Skipped (with the reason) where the docs extra, the browser or the built site is missing,
so the main test run stays fast; ``.ci/run`` builds the site, installs the browser and runs
this file with ``ILS_REF_DOCS_REQUIRED=1``, which turns every such skip into a failure.
"""

from __future__ import annotations

import fcntl
import functools
import html.parser
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
import zlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SITE = DOCS / "_build" / "html"
SHOTS = pathlib.Path(os.environ.get("ILS_REF_DOCS_SCREENSHOTS", DOCS / "_build" / "screenshots"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TUTORIALS = sorted(p.stem for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
REQUIRED = os.environ.get("ILS_REF_DOCS_REQUIRED", "") == "1"


def missing() -> str | None:
    """Why the site cannot be checked here, or None."""
    for module in ("sphinx", "myst_nb", "selenium"):
        try:
            __import__(module)
        except ImportError:
            return f"needs the docs extra ({module} is not installed): pip install '.[docs]'"
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        return f"no browser: {CHROMIUM} and {CHROMEDRIVER} come from apt-get install chromium chromium-driver"
    if not (SITE / "index.html").is_file():
        return f"the site is not built ({SITE}/index.html): run the README's docs command"
    return None


REASON = missing()
if REASON and REQUIRED:
    raise RuntimeError(f"ILS_REF_DOCS_REQUIRED=1 but {REASON}")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(scope="session")
def site() -> pathlib.Path:
    """The built site, brought up to date by an incremental build (one build at a time across workers)."""
    with open(DOCS / "_build" / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(DOCS), str(SITE)],
                              cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"the docs build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return SITE


# --- a local server and a browser with no network -----------------------------------------------------

@pytest.fixture(scope="session")
def server(site):
    """``http://127.0.0.1:PORT/`` serving the site (and a scratch folder at ``/_probe/``)."""
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium whose only reachable host is 127.0.0.1.

    Every request that is not to the loopback goes to a proxy on port 9 of the loopback (discard:
    nothing listens), and host names resolve to nothing, so a page that asks for anything outside
    fails instead of fetching it; ``test_the_network_is_really_blocked`` shows that it does.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--proxy-server=http://127.0.0.1:9",
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, url: str) -> dict:
    """Load ``url``, wait for MathJax to finish, and return what the rendered DOM says."""
    driver.get_log("browser"), driver.get_log("performance")  # forget the previous page's entries
    driver.get(url)
    typeset = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const wait = (n) => {
            if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
                MathJax.startup.promise.then(() => done(true), (e) => done('MathJax failed: ' + e));
            } else if (n > 0) { setTimeout(() => wait(n - 1), 100); } else { done(false); }
        };
        if (document.readyState === 'complete') { wait(100); }
        else { window.addEventListener('load', () => wait(100)); }
    """)
    state = driver.execute_script("""
        const images = Array.from(document.images).map(i => ({
            src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
        const math = Array.from(document.querySelectorAll('.math'));
        const untypeset = math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
        // TeX delimiters left as text outside code: math that nobody typeset
        const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
        const raw = [];
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            if (n.parentElement.closest('pre, code, script, style, mjx-container, mjx-assistive-mml')) continue;
            const t = n.textContent;
            if (/\\\\\\(|\\\\\\[|\\$\\$|\\$[^$\\s][^$]*\\$/.test(t)) raw.push(t.trim().slice(0, 80));
            else if (/\\\\[a-zA-Z]{2,}|\\^\\{|_\\{/.test(t)) raw.push(t.trim().slice(0, 80));  // a bare \\frac, ^{ or _{
        }
        return {images: images, math: math.length, untypeset: untypeset, raw: raw,
                containers: document.querySelectorAll('mjx-container').length,
                errors: document.querySelectorAll('mjx-merror').length,
                title: document.title, text: document.body.innerText};
    """)
    state["typeset"] = typeset
    state["console"] = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    state["requests"] = requested_urls(driver.get_log("performance"))
    return state


def requested_urls(entries) -> dict:
    """Every URL the page asked for (from the DevTools log), with the error of those that failed."""
    urls, failed, ids = {}, {}, {}
    for entry in entries:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            ids[params["requestId"]] = params["request"]["url"]
            urls[params["request"]["url"]] = None
        elif message["method"] == "Network.loadingFailed" and params.get("requestId") in ids:
            failed[ids[params["requestId"]]] = params.get("errorText")
    return {url: failed.get(url) for url in urls}


def screenshot(driver, name: str) -> pathlib.Path:
    """The whole page as a PNG in ``SHOTS`` (the window stretched to the page, up to 6000 pixels)."""
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 6000)")
    driver.set_window_size(1280, max(900, height))
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path


def assert_rendered(state: dict, server: str, min_math: int, min_images: int):
    assert state["typeset"] is True, f"{state['title']}: MathJax did not finish: {state['typeset']}"
    assert state["containers"] >= min_math and state["math"] >= min_math, \
        f"{state['title']}: {state['containers']} typeset formulas of {state['math']}, expected at least {min_math}"
    assert not state["untypeset"], f"{state['title']}: math left untypeset: {state['untypeset'][:5]}"
    assert not state["raw"], f"{state['title']}: TeX left as text: {state['raw'][:5]}"
    assert state["errors"] == 0, f"{state['title']}: {state['errors']} formulas MathJax could not parse"
    broken = [i for i in state["images"] if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert not broken, f"{state['title']}: images that did not load: {broken}"
    assert len(state["images"]) >= min_images, f"{state['title']}: {len(state['images'])} images, expected {min_images}"
    assert not state["console"], f"{state['title']}: console errors: {state['console']}"
    outside = [u for u in state["requests"] if not u.startswith((server, "data:", "blob:", "about:"))]
    assert not outside, f"{state['title']}: the page asked for addresses outside the site: {outside}"
    failed = {u: e for u, e in state["requests"].items() if e}
    assert not failed, f"{state['title']}: requests that failed: {failed}"


# --- the tests ------------------------------------------------------------------------------------------

def test_the_landing_page_renders_offline(browser, server):
    state = open_page(browser, server + "index.html")
    assert_rendered(state, server, min_math=10, min_images=0)
    # Algorithm 1's kernel, included from the source file, and the three uses
    assert "def ils_kernel(" in state["text"] and "cache.probs - pi_d" in state["text"]
    for use in ("Learn how these estimators work", "Check your own gradients", "Audit the experiment"):
        assert use in state["text"]
    shot = screenshot(browser, "index.png")
    assert shot.stat().st_size > 20_000


@pytest.mark.parametrize("stem", ["08_where_ils_converges", "09_categorical_vae"])
def test_a_tutorial_page_renders_offline_with_its_outputs_and_figures(browser, server, stem):
    state = open_page(browser, server + f"tutorials/{stem}.html")
    assert_rendered(state, server, min_math=5, min_images=1)
    assert "claims hold" in state["text"] and "CLAIM FAILED" not in state["text"], "the claims cell's output"
    assert "quick mode" in state["text"]
    shot = screenshot(browser, f"{stem}.png")
    assert shot.stat().st_size > 20_000
    from selenium.webdriver.common.by import By

    figure = browser.find_elements(By.CSS_SELECTOR, "main img")[0]
    browser.execute_script("arguments[0].scrollIntoView()", figure)
    figure.screenshot(str(SHOTS / f"{stem}_figure.png"))  # the first figure as the page shows it


def test_every_tutorial_page_and_every_page_with_math_renders_offline(browser, server, site):
    """Not only the pages above: a broken figure or formula anywhere fails (a corrupted figure of tutorial 04 passed)."""
    pages = sorted({p for p in site.rglob("*.html") if 'class="math' in p.read_text(encoding="utf-8")}
                   | set((site / "tutorials").glob("[0-9][0-9]_*.html")))
    assert len(pages) > 20
    problems = []
    for page in pages:
        path = page.relative_to(site).as_posix()
        state = open_page(browser, server + path)
        try:
            assert_rendered(state, server, min_math=0, min_images=0)
            if path.startswith("tutorials/"):
                claims = re.search(r"(\d+) of (\d+) claims hold", state["text"])
                assert claims and claims.group(1) == claims.group(2), f"{path}: the claims cell's output"
        except AssertionError as error:
            problems.append(f"{path}: {error}")
    assert not problems, "\n".join(problems[:10])


def test_an_api_page_renders_its_docstring_math(browser, server):
    state = open_page(browser, server + "generated/ils_ref.softmax_backward.html")
    assert_rendered(state, server, min_math=1, min_images=0)
    assert "Vector-Jacobian product" in state["text"]


def test_the_network_is_really_blocked(browser, server):
    """A page that asks for an outside image gets nothing: the request dies at the closed proxy port."""
    state = open_page(browser, 'data:text/html,<title>probe</title><img src="http://example.com/pixel.png">')
    outside = {u: e for u, e in state["requests"].items() if u.startswith("http://example.com")}
    assert outside, state["requests"]
    assert all(e and ("PROXY" in e or "NAME_NOT_RESOLVED" in e) for e in outside.values()), outside
    assert state["images"][0]["width"] == 0
    assert state["console"], "a failed load must show in the console, or the console check proves nothing"


# --- the whole site, on disk -----------------------------------------------------------------------------

class Links(html.parser.HTMLParser):
    """The ids of a page and the URLs its tags point to."""

    def __init__(self):
        super().__init__()
        self.ids, self.urls = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.urls.append((tag, attrs[key]))


@functools.lru_cache(maxsize=None)
def parse(path: pathlib.Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def broken_links(site: pathlib.Path) -> tuple[list[str], list[str]]:
    """Internal links (file and anchor) that do not resolve; scripts, styles and images from outside."""
    broken, outside = [], []
    for page in sorted(site.rglob("*.html")):
        if page.relative_to(site).parts[0] == "_static":  # the theme's templates, not pages
            continue
        for tag, url in parse(page).urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme or parts.netloc:
                if tag in ("script", "link", "img", "iframe", "source") and parts.scheme not in ("data",):
                    outside.append(f"{page.relative_to(site)}: <{tag}> {url}")
                continue
            target = page if not parts.path else (page.parent / urllib.parse.unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {url} (no file)")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in parse(target).ids:
                broken.append(f"{page.relative_to(site)}: {url} (no anchor)")
    return broken, outside


def test_every_internal_link_resolves_and_nothing_comes_from_outside(site):
    broken, outside = broken_links(site)
    assert not broken, f"{len(broken)} broken links:\n" + "\n".join(broken[:20])
    assert not outside, "\n".join(outside[:20])


def test_a_broken_link_is_caught(site, tmp_path):
    """The link check can fail: a copy of the landing page with a missing page and a missing anchor."""
    copy = tmp_path / "html"
    shutil.copytree(site, copy, ignore=shutil.ignore_patterns("_images", "_modules", "generated", "_static"))
    index = copy / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace(
        "</main>", '<a href="tutorials/10_missing.html">x</a><a href="api.html#no-such-anchor">y</a></main>', 1),
        encoding="utf-8")
    parse.cache_clear()
    broken, _ = broken_links(copy)
    parse.cache_clear()
    assert any("10_missing.html (no file)" in b for b in broken), broken
    assert any("#no-such-anchor (no anchor)" in b for b in broken), broken


def test_every_tutorial_is_a_page_with_its_executed_outputs(site):
    pages = sorted(p.stem for p in (site / "tutorials").glob("[0-9][0-9]_*.html"))
    assert pages == TUTORIALS
    for stem in TUTORIALS:
        text = (site / "tutorials" / f"{stem}.html").read_text(encoding="utf-8")
        assert "claims hold" in text and "CLAIM FAILED" not in text, f"{stem}: no executed claims cell"
        assert f"tutorials/{stem}" in (site / "tutorials" / "index.html").read_text(encoding="utf-8") or \
            f"{stem}.html" in (site / "tutorials" / "index.html").read_text(encoding="utf-8")


def inventory(site: pathlib.Path) -> set[str]:
    """The object names in ``objects.inv`` (Sphinx's inventory: four header lines, then zlib)."""
    data = (site / "objects.inv").read_bytes()
    body = data.split(b"\n", 4)[4]
    return {line.split(" ", 1)[0] for line in zlib.decompress(body).decode("utf-8").splitlines() if line}


def test_every_public_name_is_in_the_api_reference(site):
    import ils_ref

    names = inventory(site)
    absent = [name for name in ils_ref.__all__ if f"ils_ref.{name}" not in names]
    assert not absent, f"public names missing from the API reference: {absent}"
    for module in ("ops", "estimators", "gradcheck", "checking", "models", "experiments"):
        assert f"ils_ref.{module}" in names
    assert (site / "generated" / "ils_ref.ils_backward.html").is_file()
