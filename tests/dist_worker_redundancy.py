"""Worker run by tests/test_redundancy_distributed.py under `torchrun`: the modes given (comma-separated) in one launch, results saved per rank."""
import sys, torch, torch.distributed as dist
from pathlib import Path

B,D,P,V = 4,6,5,4   # per-process batch, embedding width, prototypes, SwAV crops

def data(ws):
    "The global batch, the same on every rank and in the test"
    g = torch.Generator().manual_seed(0)
    z1,z2 = torch.randn(ws*B, D, generator=g, dtype=torch.float64),torch.randn(ws*B, D, generator=g, dtype=torch.float64)*2+1
    scores = [torch.randn(ws*B, P, generator=g, dtype=torch.float64).tanh() for _ in range(V)]
    queue = [torch.randn(ws*3, P, generator=g, dtype=torch.float64).tanh() for _ in range(2)]
    return z1,z2,scores,queue

def losses(out):
    from self_supervised.losses import BarlowTwinsLoss, VICRegLoss, SwAVLoss, sinkhorn_knopp
    rank,ws = dist.get_rank(),dist.get_world_size()
    z1,z2,scores,queue = data(ws)
    sl,ql = slice(rank*B, (rank+1)*B),slice(rank*3, (rank+1)*3)
    res = {}
    for name,f in [('barlow_twins', BarlowTwinsLoss(0.1, gather_distributed=True)), ('vicreg', VICRegLoss(2., 3., 4., gather_distributed=True))]:
        a,b = z1[sl].clone().requires_grad_(),z2[sl].clone().requires_grad_()
        loss = f(a, b); loss.backward()
        res[name] = dict(loss=loss.item(), g1=a.grad, g2=b.grad)
    for name,q in [('swav', None), ('swav_queue', [o[ql] for o in queue])]:
        s = [o[sl].clone().requires_grad_() for o in scores]
        loss = SwAVLoss(0.2, 0.1, 3, (0,1), gather_distributed=True)(s, q); loss.backward()
        res[name] = dict(loss=loss.item(), grads=[o.grad for o in s])
    res['codes'] = {n: sinkhorn_knopp(scores[0][sl], 0.1, n, gather_distributed=True) for n in (1, 3, 50)}
    torch.save(res, Path(out)/f"losses_{rank}.pt")

def fit_swav(out):
    import numpy as np, torch.nn as nn
    from fastai.learner import Learner
    import fastai.distributed
    from self_supervised.vision.swav import create_swav_model, get_swav_aug_pipelines, DistributedSWAV
    from self_supervised.layers import create_encoder, GlobalPool
    from self_supervised.dist import distrib_kwargs
    from self_supervised.data import dls_from_arrays
    torch.manual_seed(0)
    x = (np.random.default_rng(0).random((64, 1, 16, 16))*255).astype(np.uint8)
    dls = dls_from_arrays(x, bs=8, device='cpu')
    enc = nn.Sequential(*create_encoder('xresnet18', n_in=1, pool_type='avg')[:4], GlobalPool('avg'))
    augs = get_swav_aug_pipelines(16, num_crops=(2,2), crop_sizes=(16,8), rotate=False, jitter=False, bw=False, blur=False, stats=None)
    cb = DistributedSWAV(augs, K=8, queue_start_pct=0.3, freeze_protos_pct=0.2)
    learn = Learner(dls, create_swav_model(enc, 32, 16, n_protos=10), cbs=[cb])
    with learn.distrib_ctx(**distrib_kwargs()): learn.fit(2, 1e-3)
    m = learn.model
    torch.save(dict(state={k:v.clone() for k,v in m.state_dict().items()}, losses=[float(o) for o in learn.recorder.losses],
                    n_queued=cb.n_queued, proto_norms=m.prototypes.weight.norm(dim=1)), Path(out)/f"fit_swav_{dist.get_rank()}.pt")

if __name__ == '__main__':
    modes,out = sys.argv[1].split(','),sys.argv[2]     # comma-separated modes: run one after the other in one launch
    if modes!=['fit_swav']: dist.init_process_group('gloo')   # `fit_swav` alone: fastai's distrib_ctx (accelerate) sets the group up
    for mode in modes: globals()[mode](out)
    if dist.is_initialized(): dist.barrier(); dist.destroy_process_group()
