"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol, for the tests that open pages in a browser: the docs
site (`test_docs_site.py`) and a run's `report.html` (`test_pictures.py`). Needs `websocket-client` (the docs extra)."""
import json, os, shutil, socket, subprocess, tempfile, threading, time
from contextlib import contextmanager
from functools import partial
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from urllib.request import urlopen

CHROMIUM = os.environ.get('CHROMIUM', shutil.which('chromium') or '/usr/bin/chromium')

class CDP:
    "Minimal Chrome DevTools Protocol client: one page target, commands by id, events collected"
    def __init__(self, ws_url):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.n,self.events = 0,[]
    def __call__(self, method, **params):
        self.n += 1; i = self.n
        self.ws.send(json.dumps(dict(id=i, method=method, params=params)))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get('id')==i:
                if 'error' in msg: raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get('result', {})
            self.events.append(msg)
    def wait_event(self, method, timeout=60):
        t0 = time.time()
        while time.time()-t0<timeout:
            for k,e in enumerate(self.events):
                if e.get('method')==method: return self.events.pop(k)
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)
    def js(self, expr):
        "Value of the JavaScript expression `expr` (promises awaited)"
        r = self('Runtime.evaluate', expression=expr, awaitPromise=True, returnByValue=True, timeout=60000)
        if 'exceptionDetails' in r: raise RuntimeError(f"JS error: {r['exceptionDetails']}")
        return r['result'].get('value')
    def goto(self, url):
        self.events.clear()
        self('Page.navigate', url=url)
        self.wait_event('Page.loadEventFired')

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@contextmanager
def browser(chromium=CHROMIUM):
    "Headless chromium, driven over its DevTools websocket: yields a `CDP` on its page"
    prof = tempfile.mkdtemp(prefix='chromium-')
    port = free_port()
    p = subprocess.Popen([chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                          '--disable-background-networking', '--disable-component-update', '--disable-sync',
                          '--disable-dev-shm-usage', f'--user-data-dir={prof}', f'--remote-debugging-port={port}',
                          '--remote-allow-origins=*', '--window-size=1280,1000', 'about:blank'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try: targets = json.load(urlopen(f'http://127.0.0.1:{port}/json/list', timeout=2)); break
            except OSError: time.sleep(0.1)
        else: raise RuntimeError("chromium did not open its DevTools port")
        page = next(t for t in targets if t['type']=='page')
        cdp = CDP(page['webSocketDebuggerUrl'])
        cdp('Page.enable'); cdp('Runtime.enable')
        yield cdp
        cdp.ws.close()
    finally:
        p.terminate()
        try: p.wait(10)
        except subprocess.TimeoutExpired: p.kill()
        shutil.rmtree(prof, ignore_errors=True)

class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

@contextmanager
def serve(directory):
    "Folder `directory` served on localhost: yields its URL"
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), partial(QuietHandler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try: yield f'http://127.0.0.1:{httpd.server_address[1]}'
    finally: httpd.shutdown()
