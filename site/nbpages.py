"""Stage the nbdev notebooks of `nbs/` as Sphinx/myst-nb pages: nbdev directives become myst-nb cell tags, `show_doc` cells are added.

`nbs/` stays the single source. Each build writes processed copies (git-ignored) into the Sphinx source folder:
`index.ipynb`, `api/<module>.ipynb` for every module notebook, `tutorials/<name>.ipynb` for every `3x_tutorial.*` notebook.
Cells are executed by myst-nb during the build, so hidden cells (`#| hide`, `#| export`) are kept, only tagged to be removed
from the page. A quick build (`execute` globs, SITE_EXECUTE in conf.py) runs every cell only in the notebooks it names; the others
run their exported code and `show_doc` cells, which make the API reference, and show their other cells without outputs."""
import hashlib, json, re
from functools import partial
from pathlib import Path
from fastcore.basics import AttrDict
from nbdev.process import NBProcessor
from nbdev.processors import add_show_docs, populate_language, strip_ansi, hide_line, rm_header_dash, clean_magics, _is_showdoc

_remove_cell = {'hide', 'export', 'exporti', 'default_exp'}   # nbdev hides these cells' source in its docs too
_kernelspec = dict(name='python3', display_name='Python 3', language='python')

_SETUP = r"""from nbdev.showdoc import show_doc as _nbdev_show_doc
import re as _re, matplotlib as _mpl
class _Doc:
    "nbdev's `show_doc` markdown, with a plain source link"
    def __init__(self, sym, **kw): self.md = _nbdev_show_doc(sym, **kw)._repr_markdown_()
    def _repr_markdown_(self):
        md = _re.sub(r'^\s*---\s*\n', '', self.md)   # a rule can't sit inside an output (docutils): the css draws it
        return '<div class="nbdev-doc"></div>\n\n' + _re.sub(r'\[source\]\(([^)#]*)[^)]*\)\{[^}]*\}', r'[source](\1)', md)
def show_doc(sym, **kw): return _Doc(sym, **kw)
_mpl.rcParams['figure.dpi'] = 80"""

def _setup_cell(lib_hash, api_only=False):
    "Hidden first cell: `show_doc`, and the library's hash (and the mode) so that jupyter-cache re-executes when either changes"
    mode = '; API cells only' if api_only else ''
    return dict(cell_type='code', id='ss-setup', execution_count=None, outputs=[], metadata=dict(tags=['remove-cell']),
                source=f"# self_supervised sources: {lib_hash}{mode}\n{_SETUP}")

_api_cells = {'export', 'exporti'}

def tag_directives(cell, api_only=False):
    "Translate nbdev's `#|` directives of a code cell into myst-nb tags (the cell still runs unless `eval: false`, or `api_only` and it is not API)"
    if cell.cell_type!='code': return
    d,tags = cell.directives_,set(cell.metadata.get('tags', []))
    if api_only and not (d.keys() & _api_cells or _is_showdoc(cell)): tags.add('skip-execution')
    if (d.keys() & _remove_cell) or d.get('include', '')=='false': tags.add('remove-cell')
    if _is_showdoc(cell) or d.get('echo', '')=='false': tags.add('remove-input')
    if d.get('output', '')=='false': tags.add('remove-output')
    if d.get('eval', '')=='false': tags.add('skip-execution')
    if tags: cell.metadata['tags'] = sorted(tags)

def _clean(cell, i):
    "Plain notebook cell: no nbdev attributes, no stale outputs, an id"
    c = {k:v for k,v in dict(cell).items() if not k.endswith('_') and k!='has_sd'}
    c.setdefault('id', f'ss{i:04d}')
    c['metadata'] = dict(c.get('metadata', {}))
    if c['cell_type']=='code': c.update(outputs=[], execution_count=None)
    return c

def process_nb(src, lib_hash, extra_md=None, api_only=False):
    "Processed notebook dict of the nbdev notebook `src` (`api_only`: only its exported code and `show_doc` cells run)"
    p = NBProcessor(src, procs=[populate_language, add_show_docs, strip_ansi, hide_line, rm_header_dash, clean_magics,
                                partial(tag_directives, api_only=api_only)], rm_directives=True)
    p.process()
    cells = [_clean(c, i) for i,c in enumerate(p.nb.cells) if c.get('source') is not None]
    cells.insert(1 if cells and cells[0]['cell_type']=='markdown' else 0, _setup_cell(lib_hash, api_only))
    if extra_md: cells.append(dict(cell_type='markdown', id='ss-toc', metadata={}, source=extra_md))
    meta = dict(p.nb.get('metadata', {})); meta['kernelspec'] = _kernelspec
    meta.setdefault('language_info', dict(name='python'))
    return dict(nbformat=4, nbformat_minor=5, metadata=meta, cells=cells)

def page_name(nb):
    "Page of notebook `nb`: `index`, `tutorials/<name>` or `api/<module>`"
    stem = re.sub(r'^\d+_', '', nb.stem)
    if stem=='index': return 'index'
    if stem.startswith('tutorial.'): return 'tutorials/'+stem[len('tutorial.'):]
    return 'api/'+stem

def library_hash(lib):
    h = hashlib.sha256()
    for f in sorted(Path(lib).rglob('*.py')): h.update(f.read_bytes())
    return h.hexdigest()[:16]

def _toctree(caption, pages):
    return f"```{{toctree}}\n:hidden:\n:caption: {caption}\n:maxdepth: 1\n\n" + '\n'.join(pages) + "\n```\n"

def _matches(f, globs): return any(f.match(g) for g in globs)

def stage_notebooks(nbs, dest, lib, only=None, execute=None):
    "Write the processed notebooks of `nbs` (those matching a glob of `only`, if given) into Sphinx source folder `dest`; those not matching a glob of `execute` (if given) run only their API cells"
    nbs,dest = Path(nbs),Path(dest)
    srcs = sorted(f for f in nbs.glob('*.ipynb') if not f.name.startswith('_') and (not only or _matches(f, only)))
    pages = {f:page_name(f) for f in srcs}
    api = [p for p in pages.values() if p.startswith('api/')]
    tut = [p for p in pages.values() if p.startswith('tutorials/')]
    index_md = _toctree('Tutorials', tut) + _toctree('API', api)
    lib_hash = library_hash(lib)
    for sub in ('api', 'tutorials'):                   # drop pages of notebooks that were removed or renamed
        for old in (dest/sub).glob('*.ipynb'):
            if old not in [dest/f'{p}.ipynb' for p in pages.values()]: old.unlink()
    for f,page in pages.items():
        nb = process_nb(f, lib_hash, index_md if page=='index' else None, api_only=bool(execute) and not _matches(f, execute))
        out = dest/f'{page}.ipynb'
        out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(nb, indent=1, ensure_ascii=False)+'\n'
        if not out.exists() or out.read_text()!=text: out.write_text(text)   # unchanged pages keep their mtime: incremental builds
    return list(pages.values())
