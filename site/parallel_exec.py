"""Execute the pages that jupyter-cache does not hold yet, several at once, before myst-nb reads them.

myst-nb's `cache` mode executes notebooks one after the other. Each page is its own kernel, so on a machine with several cores the
build waits mostly on one core. `execute_uncached` runs the missing pages in a process pool (longest first: by the runtime of their
last cached version, or else their number of `fit` calls), each kernel with cores / jobs torch threads so that no core is
oversubscribed, and stores the executed notebooks in the cache that myst-nb reads, executed in the same cwd (the page's folder).
A page that fails here is not cached: myst-nb then executes it itself and fails the build with its traceback, as without this step."""
import os, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
import nbformat

def _execute(path, timeout, threads):
    "Executed notebook at `path`, its runtime, and the error text (None on success); the kernel gets `threads` threads"
    from jupyter_cache.executors.utils import single_nb_execution
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = str(threads)   # the kernel inherits them: no oversubscribed cores
    nb = nbformat.read(path, as_version=4)
    r = single_nb_execution(nb, cwd=str(Path(path).parent), allow_errors=False, timeout=timeout, meta_override=True)
    return nb, r.time, (r.exc_string if r.err is not None else None)

def _die_with_parent():
    "Pool worker initialiser: on Linux, the worker (and so its kernel) is killed when the build process dies"
    try:
        import ctypes, signal
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError): pass

def _expected_runtime(cache, path):
    "Runtime of the last cached version of `path`, or (none cached) its number of `fit` calls: the order of the pool's queue"
    last = max((c.data.get('execution_seconds', 0.) for c in cache.list_cache_records() if c.uri==str(path)), default=0.)
    return last or Path(path).read_text().count('.fit')

def execute_uncached(paths, cache_path, timeout=1800, jobs=None, log=print):
    "Execute, `jobs` at a time, the notebooks of `paths` that the jupyter-cache at `cache_path` has no outputs for; cache the results"
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    cache = get_cache(str(cache_path))
    todo = []
    for p in map(Path, paths):
        try: cache.match_cache_notebook(nbformat.read(p, as_version=4))
        except KeyError: todo.append(p)
    jobs = min(jobs or os.cpu_count() or 1, len(todo))
    if jobs<2: return []                                 # nothing to gain: myst-nb executes the page itself
    todo.sort(key=lambda p: -_expected_runtime(cache, p))
    threads = max(1, (os.cpu_count() or 1)//jobs)
    log(f"executing {len(todo)} notebook(s), {jobs} at a time, {threads} thread(s) each")
    t0,failed = time.time(),[]
    with ProcessPoolExecutor(jobs, initializer=_die_with_parent) as pool:
        futs = {pool.submit(_execute, str(p), timeout, threads): p for p in todo}
        for f in as_completed(futs):
            p = futs[f]
            try: nb,secs,err = f.result()
            except Exception as e: nb,secs,err = None,0.,repr(e)
            if err is not None:
                last = [l for l in err.strip().splitlines() if l.strip()][-1:]
                failed.append(p); log(f"{p.name}: failed here ({last[0][:200] if last else err}); myst-nb executes it again and reports the error"); continue
            cache.add_nb_to_project(str(p))
            cache.cache_notebook_bundle(CacheBundleIn(nb, str(p), data={'execution_seconds': secs}), check_validity=False, overwrite=True)
            log(f"{p.parent.name}/{p.name}: {secs:.0f} s")
    log(f"executed in {time.time()-t0:.0f} s")
    return failed
