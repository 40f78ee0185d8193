"""Momentum teachers (BYOL, MoCo, DINO): multi-process (gloo, CPU) losses, MoCo queue and DINO centre against one process on the
concatenated batch; the EMA update against its formula; bad input. The fast tier launches 2 processes once (the losses, then a fastai
step); 3 processes are in the slow tier (`pytest -m slow`)."""
import os, sys, socket, subprocess, importlib.util, copy, pytest, torch, torch.nn as nn
from pathlib import Path

WORKER = Path(__file__).parent/'dist_worker_momentum.py'
_spec = importlib.util.spec_from_file_location('dist_worker_momentum', WORKER)
W = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(W)

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def torchrun(n, mode, out, timeout=300):
    "Run the worker's `mode` (comma-separated modes: one after the other) in `n` processes, results in `out`"
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={n}', '--master_addr=127.0.0.1', f'--master_port={_free_port()}', str(WORKER), mode, str(out)]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode==0, r.stdout[-3000:] + r.stderr[-3000:]

@pytest.fixture(scope='module')
def launched(tmp_path_factory):
    "Results folder of world size ws (one launch each, both modes), launched when first asked for"
    outs = {}
    def _get(ws):
        if ws not in outs:
            outs[ws] = tmp_path_factory.mktemp(f'ws{ws}')
            torchrun(ws, 'losses,step', outs[ws])
        return outs[ws]
    return _get

WS = [2, pytest.param(3, marks=pytest.mark.slow)]

@pytest.mark.parametrize('ws', WS)
def test_losses_queue_centre_match_single_process(launched, ws):
    tmp_path = launched(ws)
    ref = W.loss_values(W.data(ws), slice(None))     # one process, concatenated batch
    ranks = [torch.load(tmp_path/f'losses_{r}.pt') for r in range(ws)]
    for name in ('byol','moco','dino'):
        assert abs(sum(r[name]['loss'] for r in ranks)/ws - ref[name]['loss']) < 1e-10, name
        for r in range(ws):
            sl = slice(r*W.B, (r+1)*W.B)
            g = ref[name]['g'][:,sl] if name=='dino' else ref[name]['g'][sl]
            torch.testing.assert_close(ranks[r][name]['g']/ws, g, rtol=1e-9, atol=1e-12, msg=name)
    for r in ranks:
        torch.testing.assert_close(r['moco']['queue'], ref['moco']['queue'], rtol=0, atol=1e-12)
        assert r['moco']['ptr']==ref['moco']['ptr']==2*ws*W.B
        torch.testing.assert_close(r['dino']['center'], ref['dino']['center'], rtol=1e-6, atol=1e-7)   # float32 centre: sums in another order across processes

@pytest.mark.parametrize('ws', WS)
def test_training_step_matches_single_process(launched, ws):
    "MOCO's queue, DINO's centre and each method's loss after one fastai step, with shuffle-BN and gathering across processes"
    tmp_path = launched(ws)
    ranks = [torch.load(tmp_path/f'step_{r}.pt') for r in range(ws)]
    x = W.step_data(ws)
    for m in ('moco','dino','byol'):
        ref = W.one_step(m, x)
        assert abs(sum(r[m]['loss'] for r in ranks)/ws - ref['loss']) < 1e-5, m
        for r in ranks:
            if m=='moco': torch.testing.assert_close(r[m]['queue'], ref['queue'], rtol=1e-5, atol=1e-6); assert r[m]['ptr']==ref['ptr']
            if m=='dino': torch.testing.assert_close(r[m]['center'], ref['center'], rtol=1e-5, atol=1e-6)

def test_ema_update_formula():
    from self_supervised.momentum import ema_update_, momentum_copy, cosine_momentum
    from self_supervised.vision.byol import create_byol_model
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = create_byol_model(enc, 16, 8).double()
    with torch.no_grad():
        for p in model.parameters(): p.add_(torch.randn_like(p))
    before = copy.deepcopy(model.teacher)
    m = 0.97
    model.update_teacher(m)
    studs = dict(encoder=model.encoder, projector=model.projector)
    for n,t in model.teacher.items():
        for (k,a),b,s in zip(t.named_parameters(), before[n].parameters(), studs[n].parameters()):
            torch.testing.assert_close(a, m*b + (1-m)*s, rtol=1e-14, atol=0, msg=k)
        for a,b in zip(t.buffers(), before[n].buffers()): assert torch.equal(a, b)   # 'own' buffers: left alone
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    assert cosine_momentum(0.99, 0)==0.99 and cosine_momentum(0.99, 1)==1.

def test_bad_input_errors():
    from fastcore.test import test_fail
    from self_supervised.augmentations import get_multi_crop_aug_pipelines, get_multi_aug_pipelines
    from self_supervised.losses import MoCoLoss
    from self_supervised.vision.byol import BYOL
    from self_supervised.vision.moco import MOCO
    from self_supervised.vision.dino import DINO, get_dino_aug_pipelines
    test_fail(lambda: BYOL(get_multi_aug_pipelines(3, 8)), contains='must hold 2 pipelines')
    test_fail(lambda: MOCO(get_multi_aug_pipelines(1, 8)), contains='must hold 2 pipelines')
    test_fail(lambda: DINO(get_multi_aug_pipelines(1, 8), large_crop_ids=[0]), contains='at least 2 pipelines')
    test_fail(lambda: MoCoLoss(8, K=100).enqueue(torch.randn(16, 8)), contains='K=100 must be a multiple')
    test_fail(lambda: get_dino_aug_pipelines((2,4), (28,14,7)), contains='crop_sizes must have one entry per crop group')
    test_fail(lambda: get_multi_crop_aug_pipelines((2,4), (28,14), max_scales=(1.,)), contains='max_scales')
    augs = get_dino_aug_pipelines((2,2), (16,8), stats=None)
    test_fail(lambda: DINO(augs, large_crop_ids=[0,3]), contains='share one crop size')
    test_fail(lambda: DINO(augs[::-1], large_crop_ids=[0,1]), contains='small crop is larger')
    for cb in (lambda m: BYOL(get_multi_aug_pipelines(2, 8), m=m), lambda m: MOCO(get_multi_aug_pipelines(2, 8), m=m), lambda m: DINO(augs, m=m)):
        test_fail(lambda: cb(1.01), contains='m must be a momentum in [0, 1]')
        test_fail(lambda: cb(-0.5), contains='m must be a momentum in [0, 1]')

def test_moco_K_not_multiple_of_global_batch():
    import numpy as np
    from fastcore.test import test_fail
    from fastai.learner import Learner
    from self_supervised.data import dls_from_arrays
    from self_supervised.vision.moco import MOCO, create_moco_model, get_moco_aug_pipelines
    dls = dls_from_arrays(np.zeros((64, 1, 8, 8), dtype=np.uint8), bs=16, device='cpu')
    enc = nn.Sequential(nn.Flatten(), nn.Linear(64, 8))
    learn = Learner(dls, create_moco_model(enc, 16, 8), cbs=[MOCO(get_moco_aug_pipelines(8, stats=None), K=40)])
    test_fail(lambda: learn.fit(1), contains='K=40 must be a multiple of the global batch size 16')
