"""Worker run under `torchrun` by the SimSiam notebook (nbs/19_vision.simsiam.ipynb): one mode per check, results saved per rank."""
import sys, torch, torch.distributed as dist
from pathlib import Path

B,D = 4,6   # per-process batch, embedding width

def data(ws):
    "The global batch (p1, p2, z1, z2), the same on every rank and in the single-process reference"
    g = torch.Generator().manual_seed(0)
    return [torch.randn(ws*B, D, generator=g, dtype=torch.float64) for _ in range(4)]

def losses(out):
    from self_supervised.losses import SimSiamLoss
    rank,ws = dist.get_rank(),dist.get_world_size()
    sl = slice(rank*B, (rank+1)*B)
    p1,p2,z1,z2 = [o[sl].clone().requires_grad_() for o in data(ws)]
    loss = SimSiamLoss(gather_distributed=True)(p1, p2, z1, z2); loss.backward()
    torch.save(dict(loss=loss.item(), g1=p1.grad, g2=p2.grad, zgrad=[z1.grad, z2.grad]), Path(out)/f"losses_{rank}.pt")

def fit(out):
    "Two epochs of SimSiam under `distrib_ctx`: every process ends with the same weights"
    import numpy as np, torch.nn as nn
    from fastai.learner import Learner
    import fastai.distributed
    from self_supervised.vision.simsiam import create_simsiam_model, get_simsiam_aug_pipelines, SimSiam
    from self_supervised.dist import distrib_kwargs
    from self_supervised.data import dls_from_arrays
    torch.manual_seed(0)
    x = (np.random.default_rng(0).random((64, 1, 12, 12))*255).astype(np.uint8)
    dls = dls_from_arrays(x, bs=8, device='cpu')
    enc = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    cb = SimSiam(get_simsiam_aug_pipelines(12, rotate=False, jitter=False, bw=False, blur=False, stats=None), gather_distributed=True, sync_bn=True)
    learn = Learner(dls, create_simsiam_model(enc, 16, 16, 8), cbs=[cb])
    with learn.distrib_ctx(**distrib_kwargs()): learn.fit(2, 1e-2)
    torch.save(dict(state={k:v.clone() for k,v in learn.model.state_dict().items()}, losses=[float(o) for o in learn.recorder.losses]),
               Path(out)/f"fit_{dist.get_rank()}.pt")

if __name__ == '__main__':
    mode,out = sys.argv[1],sys.argv[2]
    if mode=='losses': dist.init_process_group('gloo')
    globals()[mode](out)
    if dist.is_initialized(): dist.barrier(); dist.destroy_process_group()
