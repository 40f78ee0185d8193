"""The docs site: built by the README's command, then opened in headless Chromium (Debian's `chromium`) through the DevTools protocol.

In the slow tier (`pytest -m slow`). Builds the full site into `_site/html` with the README's docs command (incremental: pages whose
notebook and library are unchanged come from the build's jupyter-cache), which executes every cell of every notebook, the `#| slow`
demos that `nbdev-test` skips included: in CI this build is the one run of the notebooks (`.ci/run`). A site built earlier
(SITE_DIR=path/to/html) is checked as it is. Serves it on localhost, and checks the index, a module page, a tutorial and the search
page: title rendered, every image loaded, internal links to existing files, math typeset by MathJax, search results found offline,
every public name documented. Skipped when chromium or the docs extra is missing, or with SS_DOCS_TEST=0."""
import json, os, re, shutil, socket, subprocess, sys, tempfile, threading, time, importlib
from functools import partial
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlparse, unquote
from urllib.request import urlopen
import pytest
from chromium import browser as chromium_browser, serve   # tests/chromium.py: shared with test_pictures.py

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get('SITE_DIR', ROOT/'_site'/'html'))   # SITE_DIR: a site built earlier, used as it is
CHROMIUM = os.environ.get('CHROMIUM', shutil.which('chromium') or '/usr/bin/chromium')
BUILD = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', 'site', str(SITE)]   # the README's command (quiet)

def _missing():
    if os.environ.get('SS_DOCS_TEST')=='0': return "SS_DOCS_TEST=0: the docs site is not built (`nbdev-test --flags slow` runs the notebooks' demos)"
    if not Path(CHROMIUM).exists(): return f"chromium not found ({CHROMIUM}): apt-get install chromium (CI installs it)"
    for m in ('sphinx', 'myst_nb', 'sphinx_book_theme', 'websocket'):
        if importlib.util.find_spec(m) is None: return f"{m} not installed: pip install -e '.[docs]'"
    return None

pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=str(_missing())),
              pytest.mark.timeout(2700)]                          # the first test also builds the site, executing every notebook

@pytest.fixture(scope='module')
def site():
    "The built site (building or updating it with the README's command, unless SITE_DIR names a built one)"
    if 'SITE_DIR' in os.environ:
        assert (SITE/'index.html').exists(), f"SITE_DIR={SITE} has no index.html"
        return SITE
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    for k in ('SITE_NBS', 'SITE_EXECUTE'): env.pop(k, None)     # every page, every cell
    r = subprocess.run(BUILD, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
    assert r.returncode==0, f"site build failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    assert (SITE/'index.html').exists()
    return SITE

@pytest.fixture(scope='module')
def server(site):
    "The site served on localhost"
    with serve(site) as url: yield url

@pytest.fixture(scope='module')
def browser():
    "Headless Debian chromium, driven over its DevTools websocket (tests/chromium.py)"
    with chromium_browser(CHROMIUM) as cdp: yield cdp

_PAGE_REPORT = """(async () => {
  for (const img of document.images) { img.loading = 'eager'; }
  await Promise.all([...document.images].map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const h1 = document.querySelector('article h1') || document.querySelector('main h1') || document.querySelector('h1');   // a list selector would return the first h1 in document order (a hidden one)
  return {
    title: document.title,
    h1: h1 ? h1.textContent.replace(/[#¶]/g, '').trim() : null,
    h1_visible: h1 ? h1.getBoundingClientRect().height > 0 : false,
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth, h: i.naturalHeight})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href).concat([...document.querySelectorAll('form[action]')].map(f => f.action)),   // the search box is a form
    math_tex: document.querySelectorAll('.math, span.math, div.math').length,
    mjx: document.querySelectorAll('mjx-container').length,
    mjx_errors: document.querySelectorAll('mjx-merror').length,
    mathjax: !!(window.MathJax && MathJax.version),
    text: document.body.innerText,
  };
})()"""

def _report(browser, server, page):
    browser.goto(f'{server}/{page}')
    return browser.js(_PAGE_REPORT)

def _check_common(r, server, site, title):
    assert title in r['title'], r['title']
    assert r['h1'] and title in r['h1'] and r['h1_visible'], r['h1']
    bad = [i for i in r['images'] if not i['w']>0]
    assert not bad, f"images that did not load: {bad}"
    missing = []
    for href in r['links']:
        u = urlparse(href)
        if not href.startswith(server) or u.path.endswith('/#'): continue
        f = site/unquote(u.path).lstrip('/')
        if f.is_dir(): f = f/'index.html'
        if not f.exists(): missing.append(href)
    assert not missing, f"internal links to missing files: {missing}"

def test_index(site, server, browser):
    r = _report(browser, server, 'index.html')
    _check_common(r, server, site, 'self_supervised')
    pages = {urlparse(h).path.lstrip('/') for h in r['links'] if h.startswith(server)}
    for p in ('api/losses.html', 'api/vision.simclr.html', 'tutorials/simclr.html', 'tutorials/finetune.html',
              'tutorials/augmentations.html', 'tutorials/yaware.html', 'tutorials/volumes.html', 'tutorials/distributed.html', 'search.html'):
        assert p in pages, f"navigation lacks {p}"

def test_module_page(site, server, browser):
    r = _report(browser, server, 'api/losses.html')
    _check_common(r, server, site, 'Losses')
    assert r['mathjax'] and r['mjx']>=r['math_tex']>0 and r['mjx_errors']==0, (r['mathjax'], r['mjx'], r['math_tex'], r['mjx_errors'])
    for nm in ('NTXent', 'YAwareInfoNCE', 'KernelMetric'):                # show_doc: name, signature, docstring
        assert re.search(rf'class {nm}\(|def {nm}\(', r['text']), f"no signature of {nm}"
    assert 'Normalised temperature-scaled cross-entropy' in r['text']

def test_tutorial(site, server, browser):
    r = _report(browser, server, 'tutorials/augmentations.html')
    _check_common(r, server, site, 'augmentation gallery')
    assert len(r['images'])>=8, f"the tutorial's figures are missing ({len(r['images'])} images)"
    assert 'mean per channel' in r['text']                              # executed at build: its printed output is on the page

def test_search_offline(site, server, browser):
    browser.goto(f'{server}/search.html?q=NTXent')
    # Sphinx adds the hits one at a time (5 ms apart), best last, and writes its summary when the list is complete: wait for it
    found,summary = browser.js("""(async () => {
      for (let k = 0; k < 300; k++) {
        const s = document.querySelector('#search-results .search-summary');
        if (s && /finished|did not match/.test(s.innerText))
          return [[...document.querySelectorAll('#search-results ul.search li a')].map(a => a.getAttribute('href')), s.innerText];
        await new Promise(r => setTimeout(r, 100));
      }
      return [[], 'the search did not finish in 30 s'];
    })()""")
    assert any('api/losses' in h for h in found), (summary, found)

def _module_pages():
    sys.path.insert(0, str(ROOT/'site'))
    from nbpages import page_name
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        m = re.search(r'#\|\s*default_exp\s+([\w.]+)', nb.read_text())
        if m: yield page_name(nb), f'self_supervised.{m.group(1)}'

def test_every_public_name_documented(site):
    "Every function and class a module exports has its show_doc (heading and signature) on the module's page"
    import inspect
    for page,modname in _module_pages():
        html = (site/f'{page}.html').read_text()
        text = re.sub(r'<[^>]+>', '', html)
        mod = importlib.import_module(modname)
        names = [n for n in mod.__all__ if (inspect.isfunction(o:=getattr(mod, n)) or inspect.isclass(o)) and o.__module__==modname]
        missing = [n for n in names if not re.search(rf'(def|class) {re.escape(n)}\(', text)]
        assert not missing, f"{page}.html lacks the signature of {missing}"
