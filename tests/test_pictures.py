"""Pictures of a run (neighbours.png, embedding.png, report.html) and the `inspect` command: nearest neighbours against a brute-force
computation, the run directory's report with every image it links, near duplicates and outliers planted in a folder found at the
top of the csvs, bad input as one line with exit status 2; in the slow tier, report.html opened in headless Chromium."""
import csv, json, re, shutil
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from self_supervised import cli
import self_supervised.inspect   # noqa: the command is registered through COMMAND_MODULES too
from self_supervised.pictures import nearest, run_pictures
from self_supervised.evaluation import knn_predict

def _brute(q, b, k):
    q,b = np.asarray(q, np.float64),np.asarray(b, np.float64)
    cos = (q/np.linalg.norm(q, axis=1, keepdims=True))@(b/np.linalg.norm(b, axis=1, keepdims=True)).T
    idx = np.argsort(-cos, axis=1, kind='stable')[:,:k]
    return np.take_along_axis(cos, idx, 1),idx

@pytest.mark.parametrize('bs', [1, 7, 1024])
def test_nearest_against_brute_force(bs):
    g = torch.Generator().manual_seed(bs)
    q,b = torch.randn(50, 24, generator=g),torch.randn(300, 24, generator=g)
    sim,idx = nearest(q, b, k=6, bs=bs)
    s,i = _brute(q, b, 6)
    np.testing.assert_array_equal(idx.numpy(), i); np.testing.assert_allclose(sim.numpy(), s, atol=1e-5)
    y = torch.randint(0, 4, (300,), generator=g)                       # the kNN probe on the same neighbours: votes exp(sim/t)
    votes = np.zeros((50, 4)); np.add.at(votes, (np.arange(50)[:,None], y.numpy()[i]), np.exp(s/0.07))
    np.testing.assert_array_equal(knn_predict(b, y, q, k=6, bs=bs).numpy(), votes.argmax(1))

def _imgs(page):
    return re.findall(r"<img src='([^']+)'", page)

def test_pretrain_writes_pictures_and_report(tiny_run):
    "The run made by `pretrain` (conftest's tiny_run) has the pictures and a report whose images all exist"
    files = json.loads((tiny_run/'manifest.json').read_text())['files']
    for f in ('neighbours.png', 'embedding.png', 'report.html'): assert f in files and (tiny_run/f).stat().st_size>0, f
    page = (tiny_run/'report.html').read_text()
    srcs = _imgs(page)
    assert set(srcs)=={f.name for f in tiny_run.glob('*.png')}, srcs
    assert all((tiny_run/s).is_file() and '/' not in s for s in srcs)
    assert 'kNN' in page and 'pretrained' in page and 'raw pixels' in page       # the summary table

def test_run_pictures_unlabelled(tiny_run, tmp_path):
    "Without labels: thumbnails on the map, no summary table, every image of the report present"
    from self_supervised.config import run_config, load_run_data
    from self_supervised.methods import input_stats
    run = tmp_path/'run'; shutil.copytree(tiny_run, run)
    for f in ('neighbours.png', 'embedding.png', 'report.html'): (run/f).unlink()
    cfg = run_config(run); (xtr,_,xte,_),_ = load_run_data(cfg)
    m = json.loads((run/'metrics.json').read_text()); m['summary'] = None; (run/'metrics.json').write_text(json.dumps(m))
    page = run_pictures(run, cli.load_encoder(run), xtr, None, xte, None, input_stats(cfg)).read_text()
    assert {'neighbours.png', 'embedding.png', 'report.html'} <= set(json.loads((run/'manifest.json').read_text())['files'])
    assert all((run/s).is_file() for s in _imgs(page)) and 'embedding.png' in _imgs(page) and 'No probe summary' in page

def _planted(folder):
    "40 trousers, two exact copies, a re-encoded (JPEG) copy, a noise image and a bag: the names of the planted pairs and outliers"
    from self_supervised.data import load_fashion_mnist
    d = load_fashion_mnist(); folder.mkdir()
    tr = d['x_train'][d['y_train']==1][:40]
    for i,im in enumerate(tr): Image.fromarray(im).save(folder/f"t{i:02d}.png")
    Image.fromarray(tr[4]).save(folder/'copy_t04.png'); Image.fromarray(tr[20]).save(folder/'copy_t20.png')
    Image.fromarray(tr[12]).save(folder/'t12_again.jpg', quality=85)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28,28), dtype=np.uint8)).save(folder/'noise.png')
    Image.fromarray(d['x_train'][d['y_train']==8][0]).save(folder/'bag.png')
    return {('copy_t04.png', 't04.png'), ('copy_t20.png', 't20.png'), ('t12.png', 't12_again.jpg')},{'noise.png', 'bag.png'}

def _rows(fn):
    with open(fn) as f: return list(csv.reader(f))

def test_inspect_finds_planted(tiny_run, tmp_path, capsys):
    pairs,outliers = _planted(tmp_path/'images')
    cli.main(['inspect', str(tiny_run), '--data', str(tmp_path/'images'), '--out', str(tmp_path/'out'), '--k', '5', '--top', '4'])
    d,o = _rows(tmp_path/'out'/'duplicates.csv'),_rows(tmp_path/'out'/'outliers.csv')
    assert d[0]==['file_a', 'file_b', 'similarity'] and o[0]==['file', 'score']
    assert {tuple(sorted(r[:2])) for r in d[1:4]}==pairs, d[:6]
    assert [float(r[2]) for r in d[1:]]==sorted((float(r[2]) for r in d[1:]), reverse=True)
    assert outliers <= {r[0] for r in o[1:4]}, o[:6]
    assert len(o)-1==45 and [float(r[1]) for r in o[1:]]==sorted((float(r[1]) for r in o[1:]), reverse=True)
    assert (tmp_path/'out'/'inspect.png').stat().st_size>0
    assert '45 images' in capsys.readouterr().out

def test_inspect_run_data_into_run(tiny_run, tmp_path):
    "By default: the run's own (embedded) images, named by split and index, results recorded in the run directory's manifest"
    run = tmp_path/'run'; shutil.copytree(tiny_run, run)
    cli.main(['inspect', str(run), '--threshold', '0.9'])
    o = _rows(run/'outliers.csv')
    assert len(o)-1==256+128 and all(re.fullmatch(r'(train|test)/\d{5}', r[0]) for r in o[1:])
    assert {'duplicates.csv', 'outliers.csv', 'inspect.png'} <= set(json.loads((run/'manifest.json').read_text())['files'])

@pytest.fixture(scope='module')
def bad_dirs(tmp_path_factory):
    t = tmp_path_factory.mktemp('bad')
    (t/'empty').mkdir(); (t/'afile').write_text('x'); (t/'one').mkdir()
    Image.fromarray(np.zeros((28,28), np.uint8)).save(t/'one'/'a.png')
    return t

@pytest.mark.parametrize('args,msg', [
    (['{t}/empty'], 'not a run directory'),
    (['{run}', '--data', '{t}/nowhere'], 'does not exist'),
    (['{run}', '--data', '{t}/afile'], 'not a folder'),
    (['{run}', '--data', '{t}/empty'], 'no image files'),
    (['{run}', '--data', '{t}/one'], 'at least 2'),
    (['{run}', '--data', '{run}'], 'run directory'),
    (['{run}', '--threshold', '1.5'], '--threshold'),
    (['{run}', '--top', '0'], '--top'),
    (['{run}', '--k', '0'], '--k'),
    (['{run}', '--out', '{t}/afile'], 'is a file'),
    (['{run}', '--device', 'tpu'], '--device'),
    (['{run}', '--threshold', 'high'], 'invalid float'),
])
def test_inspect_bad_input(tiny_run, bad_dirs, capsys, args, msg):
    with pytest.raises(SystemExit) as e: cli.main(['inspect'] + [a.format(run=tiny_run, t=bad_dirs) for a in args])
    err = capsys.readouterr().err
    assert e.value.code==2 and msg in err and len(err.strip().splitlines())==1, err

@pytest.mark.slow
def test_report_in_chromium(tiny_run):
    "report.html in headless Chromium (tests/chromium.py, as the docs site's check): every image loads"
    import importlib
    from chromium import CHROMIUM, browser, serve
    if not Path(CHROMIUM).exists() or importlib.util.find_spec('websocket') is None: pytest.skip('chromium or websocket-client missing')
    with serve(tiny_run) as url, browser() as b:
        b.goto(f'{url}/report.html')
        imgs = b.js("""(async () => {
          await Promise.all([...document.images].map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
          return [...document.images].map(i => ({src: i.getAttribute('src'), w: i.naturalWidth}));
        })()""")
    assert {i['src'] for i in imgs}=={f.name for f in tiny_run.glob('*.png')} and len(imgs)>=5, imgs
    assert all(i['w']>0 for i in imgs), imgs
