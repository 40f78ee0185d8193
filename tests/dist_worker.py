"""Worker run by tests/test_distributed.py under `torchrun`: the modes given (comma-separated) one after the other in one launch, results saved per rank."""
import os, sys, torch, torch.distributed as dist
from pathlib import Path

def losses(out):
    from self_supervised.losses import NTXent, YAwareInfoNCE
    rank,ws = dist.get_rank(),dist.get_world_size()
    b,D = 4,8
    g = torch.Generator().manual_seed(0)
    z1,z2,y = torch.randn(ws*b, D, generator=g, dtype=torch.float64),torch.randn(ws*b, D, generator=g, dtype=torch.float64),torch.randn(ws*b, generator=g, dtype=torch.float64)
    sl = slice(rank*b, (rank+1)*b)
    res = {}
    for name,fn in [('ntxent', lambda a,c,y: NTXent(0.2, gather_distributed=True)(a,c)),
                    ('dcl', lambda a,c,y: NTXent(0.2, gather_distributed=True, decoupled=True)(a,c)),
                    ('yaware', lambda a,c,y: YAwareInfoNCE('gaussian', 0.5, 0.2, gather_distributed=True)(a,c,y))]:
        a,c = z1[sl].clone().requires_grad_(),z2[sl].clone().requires_grad_()
        loss = fn(a, c, y[sl]); loss.backward()
        res[name] = dict(loss=loss.item(), g1=a.grad, g2=c.grad)
    torch.save(res, Path(out)/f"losses_{rank}.pt")

def uneven(out):
    from self_supervised.losses import NTXent
    rank = dist.get_rank()
    try: NTXent(gather_distributed=True)(torch.randn(4+rank, 8), torch.randn(4+rank, 8)); msg = 'no error'
    except ValueError as e: msg = str(e)
    (Path(out)/f"uneven_{rank}.txt").write_text(msg)

def fit(out):
    import numpy as np, torch.nn as nn
    from fastai.learner import Learner
    import fastai.distributed, fastai.callback.schedule
    from self_supervised.vision.simclr import create_encoder, create_simclr_model, get_simclr_aug_pipelines, DistributedSimCLR
    from self_supervised.layers import GlobalPool
    from self_supervised.dist import distrib_kwargs
    from self_supervised.data import dls_from_arrays
    torch.manual_seed(0)
    x = (np.random.default_rng(0).random((64, 1, 16, 16))*255).astype(np.uint8)
    dls = dls_from_arrays(x, bs=8, device='cpu')
    enc = nn.Sequential(*create_encoder('xresnet18', n_in=1, pool_type='avg')[:4], GlobalPool('avg'))
    learn = Learner(dls, create_simclr_model(enc, 32, 16, bn=True), cbs=[DistributedSimCLR(get_simclr_aug_pipelines(16, stats=None), temp=0.2, sync_bn=True)])
    with learn.distrib_ctx(**distrib_kwargs()): learn.fit(2, 1e-3)
    losses = [float(o) for o in learn.recorder.losses]
    torch.save(dict(state={k:v.clone() for k,v in learn.model.encoder.state_dict().items()}, losses=losses, n_batches=len(losses)), Path(out)/f"fit_{dist.get_rank()}.pt")

def crash(out):
    if dist.get_rank()==1: raise RuntimeError("rank 1 crashed on purpose")
    from self_supervised.losses import NTXent
    NTXent(gather_distributed=True)(torch.randn(4, 8), torch.randn(4, 8))   # would wait for rank 1 forever

if __name__ == '__main__':
    modes,out = sys.argv[1].split(','),sys.argv[2]
    if modes!=['fit']: dist.init_process_group('gloo')     # `fit` alone: fastai's distrib_ctx (accelerate) sets the group up
    for mode in modes: globals()[mode](out)
    if dist.is_initialized(): dist.barrier(); dist.destroy_process_group()
