"""The health report of issue 29 end to end, in this process: the collapse alarm on a tiny run forced to collapse (stop and warn),
an unlabelled --data folder (health in place of the probes, and `evaluate` on it), and the health figures of a labelled run."""
import json, shutil, pytest, torch
import numpy as np, pandas as pd
from pathlib import Path
from PIL import Image
from self_supervised import cli

def _main(*args):
    "Exit status of `self_supervised.cli.main(args)` in this process"
    try: cli.main([str(a) for a in args]); return 0
    except SystemExit as e: return e.code

N_TRAIN,BS = 64,32
QUICK = ['--n-train', N_TRAIN, '--n-test', 32, '--bs', BS, '--probe-every', 1, '--few-labels', 0, '--device', 'cpu']

@pytest.fixture
def collapsing(monkeypatch):
    "The command's models with an encoder that maps every image to nearly the same features once the first epoch has trained"
    real = cli.create_method_model
    def create(cfg, *args, **kwargs):
        model,cb = real(cfg, *args, **kwargs)
        calls = [0]
        def hook(mod, inp, out):
            if mod.training: calls[0] += 1
            if calls[0] <= N_TRAIN//BS: return out                        # one encoder call per training batch (the views concatenated)
            return out*0 + 1 + 1e-6*torch.randn_like(out)                  # nearly one point for all (identical points would crash t-SNE's tree)
        model.encoder.register_forward_hook(hook)
        return model,cb
    monkeypatch.setattr(cli, 'create_method_model', create)

def test_collapse_stops_the_run(tmp_path, capsys, collapsing):
    out = tmp_path/'run'
    assert _main('pretrain', *QUICK, '--epochs', 3, '--out', out)==2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines())==1, err
    assert 'the representation collapsed in epoch 2' in err and 'effective rank' in err, err
    for cause in ('learning rate', 'temperature', 'momentum', 'batch'): assert cause in err, err
    assert 'the last checkpoint before the collapse is model_0.pth' in err, err
    assert sorted(f.name for f in out.glob('model_*.pth'))==['model_0.pth']           # the healthy epoch's, kept
    m = json.loads((out/'metrics.json').read_text())
    assert m['epochs_done']==1 and m['probe'][0]['rank']>2

def test_collapse_warns_and_goes_on(tmp_path, capsys, collapsing):
    out = tmp_path/'run'
    assert _main('pretrain', *QUICK, '--epochs', 2, '--on-collapse', 'warn', '--out', out)==0
    o = capsys.readouterr()
    warn = [l for l in o.err.splitlines() if 'collapsed' in l]
    assert len(warn)==1 and warn[0].startswith('warning: the representation collapsed in epoch 2') and 'continuing' in warn[0], o.err
    df = pd.read_csv(out/'metrics.csv')                                                   # the figures of each probed epoch
    assert df['epoch'].tolist()==[0,1] and df['rank'][0]>2 and df['rank'][1]<1.01 and df['std'][1]<1e-6
    assert (out/'health.png').stat().st_size>0
    assert _main('pretrain', *QUICK, '--epochs', 1, '--on-collapse', 'later', '--out', tmp_path/'r2')==2
    assert "--on-collapse must be 'stop' or 'warn'" in capsys.readouterr().err

def test_unlabelled_folder_health_and_evaluate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path/'images'; data.mkdir()
    for i in range(40):                                                                   # blobs at random places: images that differ
        a = np.zeros((32,32), np.float32); yx = rng.integers(4, 28, 2)
        a[max(yx[0]-4,0):yx[0]+4, max(yx[1]-4,0):yx[1]+4] = 1
        Image.fromarray((np.clip(a + rng.normal(0, .1, a.shape), 0, 1)*255).astype(np.uint8)).save(data/f'{i:03d}.png')
    out = tmp_path/'run'
    assert _main('pretrain', '--data', data, '--size', 32, '--n-in', 1, '--epochs', 1, '--bs', 16, '--device', 'cpu', '--out', out)==0
    o = capsys.readouterr().out
    assert 'health of the embedding' in o and 'rank' in o
    m = json.loads((out/'metrics.json').read_text())
    assert m['summary'] is None and set(m['health'])=={'rank','proj_rank','std','uniformity','alignment'}
    assert (out/'health.png').exists() and not (out/'probe.png').exists()
    assert 'rank' in pd.read_csv(out/'metrics.csv').columns
    assert _main('evaluate', out)==0
    o = capsys.readouterr().out
    assert 'no labels' in o and 'pretrained' in o and 'random init' in o and 'alignment' in o

def test_evaluate_labelled_prints_health(tiny_run, capsys):
    from self_supervised.health import run_health, effective_rank
    capsys.readouterr()
    assert _main('evaluate', tiny_run, '--few-labels', 0)==0
    o = capsys.readouterr().out
    assert 'kNN' in o and 'health of the embedding' in o and 'proj_rank' in o
    m = json.loads((tiny_run/'metrics.json').read_text())
    assert 'rank' in m['probe'][-1] and (tiny_run/'health.png').exists()

def test_probe_epoch_computes_features_once(monkeypatch):
    "ProbeCallback embeds each split once per probe epoch; the probes and the health figures share those features"
    from fastai.learner import Learner
    from self_supervised import evaluation, health as hl
    from self_supervised.data import dls_from_arrays
    from self_supervised.config import method_config
    from self_supervised.methods import create_method_model
    torch.manual_seed(0)
    x = torch.randint(0, 256, (96, 1, 28, 28), dtype=torch.uint8); y = torch.arange(96)%3
    dls = dls_from_arrays(x[:64].numpy(), y[:64].numpy(), x_valid=x[64:].numpy(), y_valid=y[64:].numpy(), bs=32, device='cpu')
    model,cb = create_method_model(method_config('simclr', device='cpu', out='unused'))
    pc = evaluation.ProbeCallback(verbose=False)
    learn = Learner(dls, model, cbs=[cb, pc])
    calls = []
    real = evaluation.get_features
    monkeypatch.setattr(evaluation, 'get_features', lambda enc, xs, *a, **k: calls.append(len(xs)) or real(enc, xs, *a, **k))
    monkeypatch.setattr(hl, 'get_features', lambda *a, **k: pytest.fail('health recomputed the features'))
    with learn.no_logging(), learn.no_bar(): learn.fit(1, 1e-3)
    assert sorted(calls)==[32, 64]                                                         # held-out and training, once each
    h, = pc.history
    assert {'knn_acc','linear_acc','rank','proj_rank','std','uniformity','alignment'}<=set(h)
    f = pc.features['test']
    assert pc.features['epoch']==0 and f.shape[0]==32
    assert abs(h['rank'] - hl.effective_rank(f))<1e-9 and abs(h['proj_rank'] - hl.effective_rank(hl.project(model.projector, f)))<1e-9
