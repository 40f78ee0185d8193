"""Distributed losses and training with real processes over gloo (CPU), against the single-process run on the same data.

The fast tier launches 2 processes once (losses, uneven batches, a fastai fit, one after the other) and a crashing rank; 3 processes
and the example script under torchrun are in the slow tier (`pytest -m slow`)."""
import os, sys, socket, subprocess, pytest, torch
from pathlib import Path
from self_supervised.losses import NTXent, YAwareInfoNCE

WORKER = Path(__file__).parent/'dist_worker.py'

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def torchrun(n, mode, out, timeout=300):
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={n}', '--master_addr=127.0.0.1', f'--master_port={_free_port()}', str(WORKER), mode, str(out)]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)

def _check(r):
    assert r.returncode==0, r.stdout[-3000:] + r.stderr[-3000:]

@pytest.fixture(scope='module')
def two(tmp_path_factory):
    "Folder of the results of one launch of 2 processes: the losses, uneven batches and a fastai fit"
    out = tmp_path_factory.mktemp('two')
    _check(torchrun(2, 'losses,uneven,fit', out))
    return out

@pytest.mark.parametrize('ws', [2, pytest.param(3, marks=pytest.mark.slow)])
def test_losses_match_single_process(tmp_path, ws, request):
    if ws==2: tmp_path = request.getfixturevalue('two')
    else: _check(torchrun(ws, 'losses', tmp_path))
    b,D = 4,8
    g = torch.Generator().manual_seed(0)
    z1,z2,y = torch.randn(ws*b, D, generator=g, dtype=torch.float64),torch.randn(ws*b, D, generator=g, dtype=torch.float64),torch.randn(ws*b, generator=g, dtype=torch.float64)
    ranks = [torch.load(tmp_path/f'losses_{r}.pt') for r in range(ws)]
    for name,fn in [('ntxent', lambda a,c: NTXent(0.2)(a,c)), ('dcl', lambda a,c: NTXent(0.2, decoupled=True)(a,c)), ('yaware', lambda a,c: YAwareInfoNCE('gaussian', 0.5, 0.2)(a,c,y))]:
        a,c = z1.clone().requires_grad_(),z2.clone().requires_grad_()
        loss = fn(a, c); loss.backward()
        assert abs(sum(r[name]['loss'] for r in ranks)/ws - loss.item()) < 1e-10, name
        for r in range(ws):
            sl = slice(r*b, (r+1)*b)
            torch.testing.assert_close(ranks[r][name]['g1']/ws, a.grad[sl], rtol=1e-9, atol=1e-12)
            torch.testing.assert_close(ranks[r][name]['g2']/ws, c.grad[sl], rtol=1e-9, atol=1e-12)

def test_uneven_batches_raise_clear_error(two):
    for r in range(2): assert 'batch sizes differ across ranks' in (two/f'uneven_{r}.txt').read_text()

def test_learner_fit_two_processes_same_weights(two):
    r0,r1 = torch.load(two/'fit_0.pt'),torch.load(two/'fit_1.pt')
    assert r0['n_batches']==r1['n_batches']>0
    for k in r0['state']: torch.testing.assert_close(r0['state'][k], r1['state'][k], msg=k)
    assert all(torch.isfinite(torch.tensor(r0['losses'])))

def test_crashed_rank_fails_not_hangs(tmp_path):
    r = torchrun(2, 'crash', tmp_path, timeout=240)
    assert r.returncode!=0
    assert 'rank 1 crashed on purpose' in r.stdout+r.stderr

@pytest.mark.slow
def test_example_script_runs_under_torchrun(tmp_path):
    example = Path(__file__).parent.parent/'examples'/'train_simclr_distributed.py'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1', f'--master_port={_free_port()}',
           str(example), '--epochs', '1', '--n-train', '512', '--bs', '32']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=tmp_path, env={**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''})
    assert r.returncode==0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path/'encoder_distributed.pth').exists()
