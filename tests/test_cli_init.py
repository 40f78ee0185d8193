"""`self_supervised pretrain --init PATH` and `--pretrained` (issue 28, "Start from weights"): the run starts from exactly the
weights given (a run directory, a .safetensors file, a training checkpoint), and every bad start is one line with exit status 2
before anything on disk changes. Each case by `main(argv)` in this process, on the session's `tiny_run` as the source."""
import json, re, shutil, pytest, torch
from pathlib import Path
from safetensors.torch import save_file
from self_supervised import cli
from self_supervised.methods import create_method_model, encoder_from_config

TINY = ['--n-train', 256, '--n-test', 128, '--bs', 64, '--probe-every', 1, '--few-labels', 0, '--device', 'cpu', '--epochs', 1]

def main(*args):
    "Exit status of `cli.main(args)`"
    try: cli.main([str(a) for a in args]); return 0
    except SystemExit as e: return e.code

def err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines())==1, err
    return err

def start_of(*args):
    "The encoder that `pretrain ARGS` starts training from, built as the command builds it (nothing trained, nothing written)"
    ns = vars(cli._parser().parse_args(['pretrain', *map(str, args)])); ns.pop('cmd')
    return create_method_model(cli.pretrain_config(ns), weights=True)[0].encoder.state_dict()

def same(a, b, keys=None): return all(torch.equal(a[k], b[k]) for k in (keys or a)) and (keys is not None or set(a)==set(b))

def saved(run): return torch.load(Path(run)/'encoder.pth', map_location='cpu')

def test_init_from_a_run_directory(tiny_run, tmp_path, capsys):
    src = saved(tiny_run)
    assert same(start_of(*TINY, '--init', tiny_run, '--out', tmp_path/'a'), src)      # the start is exactly the run's encoder
    assert not same(start_of(*TINY, '--out', tmp_path/'a'), src)                       # (without --init: random)
    out = tmp_path/'run'                                                               # and the run trains from it: with a learning rate of 1e-9
    assert main('pretrain', *TINY, '--init', tiny_run, '--lr', 1e-9, '--probe-every', 5, '--n-train', 128, '--out', out)==0   # its weights stay the start's
    end,params = saved(out),[k for k,_ in encoder_from_config(json.loads((out/'config.json').read_text())).named_parameters()]
    assert max((end[k]-src[k]).abs().max().item() for k in params) < 1e-6
    cfg,metrics = json.loads((out/'config.json').read_text()),json.loads((out/'metrics.json').read_text())
    assert cfg['init']==str(Path(tiny_run).absolute()) and cfg['pretrained'] is False
    assert list(metrics['summary'])==['pretrained', 'init weights', 'random init', 'raw pixels']
    assert re.search(r'^init weights\s+0\.\d{4}', capsys.readouterr().out, re.M)      # the table shows the start's probes

def test_init_from_safetensors_and_checkpoints(tiny_run, tmp_path):
    cfg = json.loads((Path(tiny_run)/'config.json').read_text())
    torch.manual_seed(1); other = encoder_from_config(cfg).state_dict()                # weights that no run of seed 0 starts from
    save_file(other, tmp_path/'w.safetensors')
    assert same(start_of(*TINY, '--init', tmp_path/'w.safetensors', '--out', tmp_path/'a'), other)
    model = {'module.encoder.'+k: v for k,v in other.items()} | {'module.projector.0.weight': torch.zeros(3, 3)}
    torch.save({'epoch': 4, 'state_dict': model}, tmp_path/'ckpt.pth')                 # a DDP training checkpoint of a whole model
    assert same(start_of(*TINY, '--init', tmp_path/'ckpt.pth', '--out', tmp_path/'a'), other)

def test_init_that_does_not_fit(tiny_run, tmp_path, capsys):
    out = tmp_path/'out'
    assert main('pretrain', *TINY, '--init', tiny_run, '--widen', 1, '--out', out)==2      # another width
    err = err_line(capsys)
    assert 'does not fit the encoder' in err and re.search(r'\d+\.[\w.]+\.(weight|bias) is \(', err) and '--arch xresnet18' in err
    assert main('pretrain', *TINY, '--init', tiny_run, '--arch', 'resnet10t', '--out', out)==2
    assert 'missing from the file' in err_line(capsys)
    assert main('pretrain', *TINY, '--init', tmp_path/'nope.pth', '--out', out)==2
    assert 'nope.pth: no such file' in err_line(capsys)
    (tmp_path/'empty').mkdir()
    assert main('pretrain', *TINY, '--init', tmp_path/'empty', '--out', out)==2
    assert 'not a run directory' in err_line(capsys)
    (tmp_path/'junk.pth').write_text('not weights')
    assert main('pretrain', *TINY, '--init', tmp_path/'junk.pth', '--out', out)==2
    assert 'cannot read weights' in err_line(capsys)
    assert main('pretrain', *TINY, '--init', tiny_run, '--pretrained', '--out', out)==2
    assert 'not both' in err_line(capsys)
    assert not out.exists()

def test_pretrained_not_cached(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('TORCH_HOME', str(tmp_path/'torch'))
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path/'hub'))   # an empty cache
    out = tmp_path/'out'
    assert main('pretrain', *TINY, '--arch', 'resnet18', '--pretrained', '--out', out)==2
    err = err_line(capsys)
    assert err.startswith("self_supervised: error: --pretrained: arch 'resnet18'") and 'not in the local cache' in err
    assert main('pretrain', *TINY, '--pretrained', '--out', out)==2                          # the default xresnet18
    assert 'has no pretrained weights' in err_line(capsys)
    assert not out.exists()

def test_pretrained_from_the_local_cache(tmp_path, monkeypatch):
    import timm
    from huggingface_hub import constants
    torch.manual_seed(0); sd = timm.create_model('resnet10t').state_dict()               # stands in for timm's ImageNet weights
    snap = tmp_path/'hub'/'models--timm--resnet10t.c3_in1k'/'snapshots'/'abc'; snap.mkdir(parents=True)
    (snap.parent.parent/'refs').mkdir(); (snap.parent.parent/'refs'/'main').write_text('abc')  # the Hugging Face cache's layout
    save_file(sd, snap/'model.safetensors')
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path/'hub'))
    start = start_of(*TINY, '--arch', 'resnet10t', '--pretrained', '--out', tmp_path/'a')
    want = {'0.'+k: v.sum(1, keepdim=True) if k=='conv1.0.weight' else v for k,v in sd.items() if not k.startswith('fc.')}   # grey input: the RGB filters summed
    assert set(start)==set(want) and all(torch.allclose(start[k].float(), want[k].float()) for k in want)

def test_resume_refuses_another_start(tiny_run, tmp_path, capsys):
    run = tmp_path/'run'; shutil.copytree(tiny_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for opt in (['--init', tiny_run], ['--pretrained']):
        assert main('pretrain', '--resume', run, '--epochs', 2, *opt)==2
        assert 'differs from the run' in err_line(capsys)
    assert {p.name: p.read_bytes() for p in run.iterdir()}==before
