"""Barlow Twins, VICReg and SwAV under gloo (CPU) with 2 and 3 processes, against one process on the concatenated batch.

Convention (as for NT-Xent): the mean of the processes' losses is the single-process loss (Barlow Twins and VICReg: every process has
exactly that value), and each process's gradient with respect to its own embeddings is `world_size` times the single-process one, so
DDP's average of the parameter gradients is the single-process gradient. The fast tier launches 2 processes once (the losses, then
a SwAV fit); 3 processes are in the slow tier (`pytest -m slow`)."""
import os, sys, subprocess, pytest, torch
from pathlib import Path
from self_supervised.losses import BarlowTwinsLoss, VICRegLoss, SwAVLoss, sinkhorn_knopp

sys.path.insert(0, str(Path(__file__).parent))
from test_distributed import _free_port, _check
from dist_worker_redundancy import data, B

WORKER = Path(__file__).parent/'dist_worker_redundancy.py'

def torchrun(n, mode, out, timeout=300):
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={n}', '--master_addr=127.0.0.1', f'--master_port={_free_port()}', str(WORKER), mode, str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''})

def close(a, b): torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)

@pytest.fixture(scope='module')
def two(tmp_path_factory):
    "Folder of the results of one launch of 2 processes: the losses, then a SwAV fit"
    out = tmp_path_factory.mktemp('two')
    _check(torchrun(2, 'losses,fit_swav', out))
    return out

@pytest.mark.parametrize('ws', [2, pytest.param(3, marks=pytest.mark.slow)])
def test_losses_and_codes_match_single_process(tmp_path, ws, request):
    if ws==2: tmp_path = request.getfixturevalue('two')
    else: _check(torchrun(ws, 'losses', tmp_path))
    ranks = [torch.load(tmp_path/f'losses_{r}.pt') for r in range(ws)]
    z1,z2,scores,queue = data(ws)
    sls = [slice(r*B, (r+1)*B) for r in range(ws)]
    for name,f in [('barlow_twins', BarlowTwinsLoss(0.1)), ('vicreg', VICRegLoss(2., 3., 4.))]:
        a,b = z1.clone().requires_grad_(),z2.clone().requires_grad_()
        loss = f(a, b); loss.backward()
        for r in range(ws):
            assert abs(ranks[r][name]['loss'] - loss.item()) < 1e-10, name     # every process: the global value
            close(ranks[r][name]['g1']/ws, a.grad[sls[r]]); close(ranks[r][name]['g2']/ws, b.grad[sls[r]])
    # the single process's queue is the processes' queues in rank order (each process queues its own embeddings)
    for name,q in [('swav', None), ('swav_queue', queue)]:
        s = [o.clone().requires_grad_() for o in scores]
        loss = SwAVLoss(0.2, 0.1, 3, (0,1))(s, q); loss.backward()
        assert abs(sum(r[name]['loss'] for r in ranks)/ws - loss.item()) < 1e-10, name
        for r in range(ws):
            for gr,g in zip(ranks[r][name]['grads'], s): close(gr/ws, g.grad[sls[r]])
    for n in (1, 3, 50):
        close(torch.cat([r['codes'][n] for r in ranks]), sinkhorn_knopp(scores[0], 0.1, n))

def test_swav_fit_two_processes(two):
    r0,r1 = [torch.load(two/f'fit_swav_{r}.pt') for r in range(2)]
    for k in r0['state']: torch.testing.assert_close(r0['state'][k], r1['state'][k], msg=k)
    assert r0['n_queued']>=8 and all(torch.isfinite(torch.tensor(r0['losses'])))
    torch.testing.assert_close(r0['proto_norms'], torch.ones(10))
