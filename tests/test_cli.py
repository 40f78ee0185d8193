"""The command line end to end, in subprocesses, on a few batches of the embedded data."""
import json, subprocess, sys, os, pytest
import numpy as np
from pathlib import Path
from PIL import Image

def run(*args, timeout=600):
    env = {**os.environ, 'OMP_NUM_THREADS': '2', 'MPLBACKEND': 'Agg', 'CUDA_VISIBLE_DEVICES': ''}
    return subprocess.run([sys.executable, '-m', 'self_supervised', *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)

TINY = ['--n-train', 256, '--bs', 64, '--probe-every', 1]

def test_pretrain_resume_evaluate(tmp_path):
    out = tmp_path/'run'
    r = run('pretrain', *TINY, '--epochs', 1, '--out', out)
    assert r.returncode==0, r.stderr[-3000:]
    for f in ['encoder.pth','config.json','metrics.csv','metrics.json','loss.png','probe.png','augmentations.png','model_0.pth']: assert (out/f).exists(), f
    m = json.loads((out/'metrics.json').read_text())
    assert set(m['summary'])=={'pretrained','random init','raw pixels'} and 0<m['summary']['pretrained']['knn_acc']<=1
    r = run('pretrain', '--resume', out, '--epochs', 2)
    assert r.returncode==0, r.stderr[-3000:]
    assert 'resuming' in r.stdout and 'after epoch 1' in r.stdout
    import pandas as pd
    m = pd.read_csv(out/'metrics.csv')[['epoch','train_loss']].apply(pd.to_numeric, errors='coerce').dropna()
    assert sorted(m['epoch'].astype(int).tolist())==[0,1]
    assert json.loads((out/'metrics.json').read_text())['epochs_done']==2
    r = run('evaluate', out)
    assert r.returncode==0, r.stderr[-3000:]
    assert 'pretrained' in r.stdout and 'raw pixels' in r.stdout

def test_pretrain_yaware(tmp_path):
    r = run('pretrain', '--method', 'yaware', '--y', 'area', *TINY, '--epochs', 1, '--out', tmp_path/'y')
    assert r.returncode==0, r.stderr[-3000:]
    assert 'ridge_r2' in r.stdout and 'bandwidth fitted' in r.stdout

@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        (tmp_path/'imgs'/f'c{i%2}').mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((20,20,3))*255).astype(np.uint8)).save(tmp_path/'imgs'/f'c{i%2}'/f'{i}.png')
    (tmp_path/'imgs'/'c0'/'bad.png').write_bytes(b'broken')
    (tmp_path/'empty').mkdir()
    (tmp_path/'labels.csv').write_text('file,age,name\n' + ''.join(f'c{i%2}/{i}.png,{20+i},x{i}\n' for i in range(12)))
    return tmp_path

@pytest.mark.parametrize('args,msg', [
    (['--method', 'byol'], "--method must be one of"),
    (['--arch', 'xresnet1'], "did you mean"),
    (['--data', 'no/such/dir'], "does not exist"),
    (['--bs', 100000], "larger than the training set"),
    (['--arch', 'vit_tiny_patch16_224', '--size', 28], "too small for, or does not fit"),
])
def test_user_errors(args, msg):
    r = run('pretrain', *args, '--epochs', 1)
    assert r.returncode==2, r.stdout[-2000:] + r.stderr[-2000:]
    assert msg in r.stderr and 'Traceback' not in r.stderr
    assert len([l for l in r.stderr.splitlines() if 'error' in l.lower()])==1, r.stderr

def test_folder_errors_and_run(folder):
    r = run('pretrain', '--data', folder/'empty', '--epochs', 1)
    assert r.returncode==2 and 'no image files' in r.stderr
    r = run('pretrain', '--data', folder/'imgs', '--labels', folder/'labels.csv', '--y', 'weight', '--method', 'yaware', '--epochs', 1)
    assert r.returncode==2 and "y column 'weight'" in r.stderr
    r = run('pretrain', '--data', folder/'imgs', '--labels', folder/'labels.csv', '--y', 'name', '--method', 'yaware', '--epochs', 1)
    assert r.returncode==2 and "must be numeric" in r.stderr
    r = run('pretrain', '--data', folder/'imgs', '--size', 32, '--bs', 4, '--epochs', 1, '--arch', 'resnet18', '--out', folder/'run')
    assert r.returncode==0, r.stderr[-3000:]
    assert 'skipped 1 unreadable' in r.stdout
