"""`self_supervised finetune RUN` (issue 28, "Fine-tune on a few labels"), in this process on a copy of the session's tiny run:
the files it writes and records, its accuracy against an independent computation, the regression path, and bad input."""
import json, math, shutil, pytest
import numpy as np, pandas as pd
from pathlib import Path
from PIL import Image
import self_supervised.finetune   # noqa: the command is registered through COMMAND_MODULES too
from self_supervised import cli

def main(*args):
    "Exit status of `cli.main(args)`"
    try: cli.main([str(a) for a in args]); return 0
    except SystemExit as e: return e.code

def err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines())==1, err
    return err

def snapshot(d): return {p.name: p.read_bytes() for p in sorted(Path(d).iterdir()) if p.is_file()}

@pytest.fixture(scope='module')
def tuned(tiny_run, tmp_path_factory):
    "A copy of the tiny run, fine-tuned on 10 % and all of its 256 training labels, 1 epoch after the head's"
    run = tmp_path_factory.mktemp('ft')/'run'
    shutil.copytree(tiny_run, run)
    assert main('finetune', run, '--label-fraction', 0.1, 1, '--epochs', 1, '--device', 'cpu')==0
    return run

def test_files_and_structure(tuned):
    res = json.loads((tuned/'finetune.json').read_text())
    assert list(res)==['pretrained', 'random']
    for r in res.values():
        assert list(r)==['0.1', '1']
        assert all(isinstance(v, float) and 0<=v<=1 for v in r.values()), r
    assert (tuned/'finetune.png').read_bytes()[:8]==b'\x89PNG\r\n\x1a\n'
    files = json.loads((tuned/'manifest.json').read_text())['files']
    assert {'finetune.json', 'finetune.png'} <= set(files) and 'encoder.pth' in files
    assert not list(tuned.glob('*.tmp'))

def test_accuracy_against_a_logistic_regression(tuned):
    "The fine-tuned accuracy on all 256 labels is in the range of scikit-learn's logistic regression on the same encoder's frozen features"
    from sklearn.linear_model import LogisticRegression
    from self_supervised.config import run_config, load_run_data
    from self_supervised.evaluation import get_features
    from self_supervised.methods import input_stats
    cfg = run_config(tuned)
    (xtr,ytr,xte,yte),_ = load_run_data(cfg)
    enc = cli.load_encoder(tuned)
    ftr,fte = [get_features(enc, x, stats=input_stats(cfg)).double().numpy() for x in (xtr, xte)]
    m,s = ftr.mean(0),ftr.std(0)+1e-6
    lr = LogisticRegression(C=0.2, max_iter=2000).fit((ftr-m)/s, ytr).score((fte-m)/s, yte)
    acc = json.loads((tuned/'finetune.json').read_text())['pretrained']['1']
    assert lr > 0.4 and abs(acc-lr) < 0.2, (acc, lr)     # 128 held-out images; chance is 0.1
    assert json.loads((tuned/'finetune.json').read_text())['random']['1'] > 0.25

def test_regression_on_a_folder(tiny_run, tmp_path, capsys):
    "A float --y column: MAE and R² for each fraction; the target is the images' brightness, which even a short fine-tuning follows"
    run = tmp_path/'run'; shutil.copytree(tiny_run, run)
    (run/'manifest.json').unlink()                                       # as a run of a version before the manifest
    rng = np.random.default_rng(0); rows = []
    for i in range(40):
        level = rng.uniform(0.1, 0.9)
        Image.fromarray((np.clip(level + 0.1*rng.standard_normal((28,28)), 0, 1)*255).astype(np.uint8)).save(tmp_path/f'img{i:02d}.png')
        rows.append(dict(file=f'img{i:02d}.png', brightness=level*10))
    pd.DataFrame(rows).to_csv(tmp_path/'labels.csv', index=False)
    assert main('finetune', run, '--data', tmp_path, '--labels', tmp_path/'labels.csv', '--y', 'brightness', '--label-fraction', 1,
                '--epochs', 2, '--device', 'cpu')==0
    out = capsys.readouterr().out
    assert 'MAE' in out and 'continuous' in out, out
    res = json.loads((run/'finetune.json').read_text())
    assert set(res)=={'pretrained', 'random'}
    for r in res.values():
        v = r['1']
        assert set(v)=={'mae', 'r2'} and 0<=v['mae']<10 and math.isfinite(v['r2']) and v['r2']<=1, v
    assert (run/'finetune.png').is_file()
    files = json.loads((run/'manifest.json').read_text())['files']      # the run's own files recorded with the new ones
    assert {'config.json', 'encoder.pth', 'metrics.json', 'finetune.json', 'finetune.png'} <= set(files), files
    assert main('finetune', run, '--data', tmp_path, '--labels', tmp_path/'labels.csv', '--y', 'brightness', '--label-fraction', 0.01)==2
    assert 'leaves 0 of the 32' in err_line(capsys)

def test_bad_input_one_line_and_nothing_written(tiny_run, tmp_path, capsys):
    run = tmp_path/'run'; shutil.copytree(tiny_run, run)
    no_enc = tmp_path/'no_enc'; shutil.copytree(tiny_run, no_enc); (no_enc/'encoder.pth').unlink()
    flat = tmp_path/'flat'; flat.mkdir()
    for i in range(10): Image.fromarray(np.full((28,28), 25*i, np.uint8)).save(flat/f'{i}.png')
    before = snapshot(run)
    for args,msg in [(['--label-fraction', 0], '--label-fraction must be in (0, 1], got 0'),
                     (['--label-fraction', 0.5, 1.5], '--label-fraction must be in (0, 1], got 1.5'),
                     (['--label-fraction', 'nan'], '--label-fraction must be in (0, 1]'),
                     (['--epochs', 0], '--epochs must be >= 1, got 0'),
                     (['--bs', 1], '--bs must be >= 2'),
                     (['--y', 'age'], '--y COLUMN needs --labels CSV'),
                     (['--labels', tmp_path/'x.csv'], '--labels needs --y COLUMN'),
                     (['--labels', tmp_path/'x.csv', '--y', 'age'], '--labels applies to a --data folder'),
                     (['--data', tmp_path/'nowhere'], 'is not a folder'),
                     (['--data', flat], 'no labels to fine-tune on'),
                     (['--init', tmp_path/'nope.pth'], '--init'),
                     (['--device', 'tpu'], '--device must be'),
                     (['--pretrained'], '--pretrained: ')]:                  # xresnet18: fastai's xresnets have no pretrained weights
        assert main('finetune', run, *args)==2, args
        e = err_line(capsys)
        assert msg in e, (args, e)
    assert main('finetune', no_enc)==2 and 'encoder.pth' in err_line(capsys)
    assert main('finetune', tmp_path/'nothing')==2 and 'not a run directory' in err_line(capsys)
    assert snapshot(run)==before

def test_init_start(tiny_run, tmp_path, capsys):
    "--init with the run's own weights: a third start trained as the pretrained one, so the same accuracy; weights that do not fit: one line"
    import torch
    run = tmp_path/'run'; shutil.copytree(tiny_run, run)
    assert main('finetune', run, '--label-fraction', 0.1, '--epochs', 1, '--device', 'cpu', '--init', tiny_run)==0
    res = json.loads((run/'finetune.json').read_text())
    assert list(res)==['pretrained', 'random', 'init'] and res['init']==res['pretrained'], res
    torch.save({'conv.weight': torch.zeros(1)}, tmp_path/'other.pth')
    before = snapshot(run)
    assert main('finetune', run, '--init', tmp_path/'other.pth')==2
    e = err_line(capsys)
    assert '--init' in e and 'does not fit' in e, e
    assert snapshot(run)==before
