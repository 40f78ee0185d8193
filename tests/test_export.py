"""`self_supervised export`: each format written from a real run, loaded the way its user loads it (onnxruntime, `torch.jit.load`,
safetensors, `timm.create_model`) and compared with the run's encoder evaluated in float64 on the run's held-out images; in a
process without this package (slow tier: a subprocess's imports); the bad inputs (one line, exit status 2, nothing written). A timm-architecture run is built
without training in the fast tier (config.json from `method_config`, an encoder with set batch-norm statistics), trained by
the command in the slow tier."""
import json, shutil, subprocess, sys, pytest, torch, numpy as np
from pathlib import Path
import self_supervised.export as ex
from self_supervised import cli
from self_supervised.run import read_manifest, prepare_out, run_file, is_run_file

def _main(*args):
    try: cli.main([str(a) for a in args]); return 0
    except SystemExit as e: return e.code

def _images(run, n=32):
    "The run's first `n` held-out images in [0, 1], read from the embedded data directly"
    from self_supervised.data import load_fashion_mnist
    return torch.as_tensor(load_fashion_mnist()['x_test'][:n, None]).double()/255

def _reference(run, x):
    "The run's encoder in float64 on (x-0.5)/0.5 (its input_stats), built from config.json and encoder.pth"
    enc = cli.load_encoder(run).double().eval()
    with torch.no_grad(): return enc((x-0.5)/0.5)

@pytest.fixture
def run(tiny_run, tmp_path):
    d = tmp_path/'run'; shutil.copytree(tiny_run, d); return d

def _features(fmt, fn, x):
    "Features of images `x` in [0, 1] from exported file `fn`, loaded with the format's own library"
    x32 = x.float()
    if fmt=='onnx':
        import onnxruntime as ort
        return torch.from_numpy(ort.InferenceSession(str(fn)).run(None, {'images': x32.numpy()})[0])
    if fmt=='torchscript':
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter('ignore'); m = torch.jit.load(str(fn))    # deprecated (FutureWarning), still loads
        with torch.no_grad(): return m(x32)
    if fmt=='safetensors':
        from safetensors import safe_open
        from safetensors.torch import load_file
        from self_supervised.layers import create_encoder
        meta = safe_open(str(fn), 'pt').metadata()
        enc = create_encoder(**json.loads(meta['create_encoder'])).eval(); enc.load_state_dict(load_file(str(fn)))
        with torch.no_grad(): return enc((x32-0.5)/0.5)

@pytest.mark.parametrize('fmt', ['onnx', 'torchscript', 'safetensors'])
def test_round_trip(run, fmt, capsys):
    assert _main('export', run, '--format', fmt)==0
    out = capsys.readouterr().out
    fn = run/ex.FORMATS[fmt]
    assert f"wrote {fn}" in out and 'load it with:' in out
    diff = float(out.split('max abs difference to the run\'s encoder: ')[1].split()[0])
    assert diff<1e-4
    x = _images(run)
    got,ref = _features(fmt, fn, x),_reference(run, x)
    assert got.shape==ref.shape==(32, 512)
    assert (got.double()-ref).abs().max()<1e-4
    meta = ex.read_export_meta(fn)
    assert meta['arch']=='xresnet18' and meta['n_in']==1 and meta['size']==28 and meta['mean']==[0.5] and meta['std']==[0.5]
    assert meta['normalized_inside']==(fmt!='safetensors') and meta['self_supervised'] and meta['create_encoder']['widen']==0.5
    assert fn.name in read_manifest(run)['files'] and not list(run.glob('*.tmp'))

def test_batch_sizes_and_overwrite_of_the_run(run):
    import onnxruntime as ort
    ex.export_encoder(run, 'onnx'); ex.export_encoder(run, 'torchscript')
    s = ort.InferenceSession(str(run/'encoder.onnx'))
    x = _images(run, 7)
    ref = _reference(run, x)
    for b in (1, 7): assert (torch.from_numpy(s.run(None, {'images': x[:b].float().numpy()})[0]).double()-ref[:b]).abs().max()<1e-4
    prepare_out(run, overwrite=True)                     # --overwrite of the run removes the exported files with the rest
    assert not list(run.iterdir())

def test_run_without_manifest(run):
    "A run of a version before the manifest: its files are named in a new one with the export, so --overwrite still works"
    (run/'manifest.json').unlink()
    for f in run.iterdir():
        if not is_run_file(f.name): f.unlink()                 # the files that versions before the manifest did not write
    ex.export_encoder(run, 'safetensors')
    files = read_manifest(run)['files']
    assert {'config.json', 'encoder.pth', 'metrics.json', 'encoder.safetensors'} <= set(files)
    prepare_out(run, overwrite=True, remove=False)

def test_out_elsewhere(run, tmp_path, capsys):
    fn = tmp_path/'models'/'enc.onnx'; fn.parent.mkdir()
    assert _main('export', run, '--format', 'onnx', '--out', fn)==0
    assert fn.is_file() and 'enc.onnx' not in read_manifest(run)['files'] and not (run/'encoder.onnx').exists()

def test_bad_input(run, tmp_path, capsys):
    before = (run/'manifest.json').read_bytes()
    def refused(*args, says):
        capsys.readouterr()
        assert _main('export', *args)==2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines())==1 and says in err, err
    refused(run, '--format', 'keras', says="--format must be one of onnx, torchscript, safetensors, timm, got 'keras'")
    refused(run, says='--format')
    refused(tmp_path, '--format', 'onnx', says='is not a run directory (no config.json / encoder.pth)')
    refused(run, '--format', 'timm', says="the run's arch xresnet18 is not a timm model; use --format onnx, torchscript or safetensors")
    refused(run, '--format', 'onnx', '--out', tmp_path/'nowhere'/'e.onnx', says='does not exist')
    refused(run, '--format', 'onnx', '--out', tmp_path, says='is a folder')
    assert (run/'manifest.json').read_bytes()==before and not any((run/n).exists() for n in ex.FORMATS.values())
    (run/'encoder.onnx').write_bytes(b'mine')
    refused(run, '--format', 'onnx', says='already exists; pass --overwrite to replace it')
    assert (run/'encoder.onnx').read_bytes()==b'mine'
    assert _main('export', run, '--format', 'onnx', '--overwrite')==0 and (run/'encoder.onnx').stat().st_size>1000
    (run/'encoder.pth').write_bytes(b'broken')
    refused(run, '--format', 'safetensors', says='encoder.pth does not load')
    assert not (run/'encoder.safetensors').exists() and not list(run.glob('*.tmp'))

def _timm_run(d, **kw):
    "A run directory of a timm resnet18 on the embedded data: config.json as the command writes it, an untrained encoder whose batch-norm statistics a few batches set"
    from self_supervised.config import method_config
    from self_supervised.methods import encoder_from_config
    d.mkdir()
    cfg = method_config(arch='resnet18', n_train=128, n_test=64, device='cpu', out=str(d), **kw)
    torch.manual_seed(0); enc = encoder_from_config(cfg)
    with torch.no_grad():
        for _ in range(3): enc(torch.randn(32, 1, 28, 28)*0.5+0.2)
    run_file(d, 'config.json', lambda t: t.write_text(json.dumps(cfg)))
    run_file(d, 'encoder.pth', lambda t: torch.save(enc.state_dict(), t))
    return d

def _check_timm(run, stem_changes):
    import timm
    r = ex.export_encoder(run, 'timm', overwrite=True)
    assert r['max_diff']<1e-4 and r['meta']['timm_changes']==stem_changes
    x = _images(run, 16); ref = _reference(run, x)
    m = timm.create_model('resnet18', pretrained=True, pretrained_cfg_overlay=dict(file=r['file']), num_classes=0, global_pool='catavgmax').eval()
    if stem_changes: m.conv1.stride = (1, 1)
    with torch.no_grad(): got = m(((x.float()-0.5)/0.5).expand(-1, 3, -1, -1))
    assert got.shape==(16, 1024) and (got.double()-ref).abs().max()<1e-4
    m = timm.create_model('resnet18', pretrained=True, pretrained_cfg_overlay=dict(file=r['file']), num_classes=0).eval()   # timm's average pooling:
    if stem_changes: m.conv1.stride = (1, 1)
    with torch.no_grad(): got = m(((x.float()-0.5)/0.5).expand(-1, 3, -1, -1))
    assert (got.double()-ref[:, :512]).abs().max()<1e-4                                                                # the first half
    return r

def test_timm_round_trip(tmp_path):
    run = _timm_run(tmp_path/'r18')
    r = _check_timm(run, ['m.conv1.stride = (1, 1)'])                 # the library's stem stride 2 for 28-pixel images
    assert 'm.conv1.stride = (1, 1)' in r['load'] and r['notes'] and ex.read_export_meta(r['file'])['arch']=='resnet18'
    assert not _check_timm(_timm_run(tmp_path/'r18s4', stem_stride=4), [])['notes']   # timm's own stem: nothing to change

@pytest.mark.slow
def test_without_the_package(run, tmp_path):
    "The files in a Python process that imports torch, onnxruntime and timm but not this package"
    for f in ('onnx', 'torchscript'): ex.export_encoder(run, f)
    trun = _timm_run(tmp_path/'r18'); ex.export_encoder(trun, 'timm'); ex.export_encoder(trun, 'safetensors')
    x = _images(run, 8)
    np.save(tmp_path/'x.npy', x.float().numpy())
    np.save(tmp_path/'ref.npy', _reference(run, x).numpy()); np.save(tmp_path/'ref_t.npy', _reference(trun, x).numpy())
    code = f"""
import sys, warnings, numpy as np, torch, onnxruntime as ort, timm
from safetensors.torch import load_file
warnings.simplefilter('ignore')
x, ref, ref_t = [np.load('{tmp_path}/'+n+'.npy') for n in ('x', 'ref', 'ref_t')]
d = lambda a, b: float(np.abs(np.asarray(a, dtype=np.float64)-b).max())
print(d(ort.InferenceSession('{run}/encoder.onnx').run(None, {{'images': x}})[0], ref))
print(d(torch.jit.load('{run}/encoder.pt')(torch.from_numpy(x)).detach(), ref))
xn = (torch.from_numpy(x)-0.5)/0.5
m = timm.create_model('resnet18', pretrained=True, pretrained_cfg_overlay=dict(file='{trun}/encoder_timm.pth'), num_classes=0, global_pool='catavgmax').eval()
m.conv1.stride = (1, 1)
print(d(m(xn.expand(-1, 3, -1, -1)).detach(), ref_t))
m = timm.create_model('resnet18', in_chans=1, num_classes=0, global_pool='catavgmax').eval()
m.load_state_dict({{k.removeprefix('0.'): v for k, v in load_file('{trun}/encoder.safetensors').items()}})
m.conv1.stride = (1, 1)
print(d(m(xn).detach(), ref_t))
print('self_supervised' in sys.modules)
"""
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={'OMP_NUM_THREADS': '2', 'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path)})
    assert r.returncode==0, r.stderr[-2000:]
    *diffs,loaded = r.stdout.split()
    assert len(diffs)==4 and all(float(v)<1e-4 for v in diffs) and loaded=='False', r.stdout

@pytest.mark.slow
def test_trained_timm_run_all_formats(tmp_path, capsys):
    "A resnet18 run trained by the command (1 epoch, 128 images), exported in the four formats by the command"
    run = tmp_path/'r18'
    assert _main('pretrain', '--arch', 'resnet18', '--n-train', 128, '--n-test', 64, '--epochs', 1, '--bs', 64, '--probe-every', 1,
                 '--few-labels', 0, '--device', 'cpu', '--out', run)==0
    x = _images(run, 16); ref = _reference(run, x)
    for fmt in ex.FORMATS:
        capsys.readouterr()
        assert _main('export', run, '--format', fmt)==0
        out = capsys.readouterr().out
        assert float(out.split("max abs difference to the run's encoder: ")[1].split()[0])<1e-4
        if fmt!='timm': assert (_features(fmt, run/ex.FORMATS[fmt], x).double()-ref).abs().max()<1e-4
    _check_timm(run, ['m.conv1.stride = (1, 1)'])
    prepare_out(run, overwrite=True)
    assert not list(run.iterdir())
