"""Worker run by tests/test_momentum_distributed.py under `torchrun`: the modes given (comma-separated) in one launch, results saved per rank.
`one_step` is also imported by the test to make the single-process reference on the concatenated batch."""
import sys, torch, torch.nn as nn, torch.distributed as dist
from pathlib import Path

B,D,V,T = 4,8,4,2   # per-process batch, embedding size, DINO crops (student, teacher)

def data(ws, seed=0):
    "Embeddings of the global batch (float64), the same on every rank"
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    return dict(q=r(ws*B, D), k=r(ws*B, D), s=r(V, ws*B, D), t=r(T, ws*B, D))

def make_losses():
    from self_supervised.losses import BYOLLoss, MoCoLoss, DINOLoss
    torch.manual_seed(1)
    moco = MoCoLoss(D, K=24*B, temperature=0.2, gather_distributed=True).double()
    dino = DINOLoss(D, teacher_temp=0.07, student_temp=0.1, center_momentum=0.8, gather_distributed=True).double()
    dino.center.normal_()
    return BYOLLoss(),moco,dino

def loss_values(d, sl):
    "Loss, gradient and state after the update, of each loss on the rows `sl` of the global batch"
    byol,moco,dino = make_losses()
    res = {}
    q,k = d['q'][sl].clone().requires_grad_(),d['k'][sl]
    l = byol(q, k); l.backward(); res['byol'] = dict(loss=l.item(), g=q.grad)
    q = d['q'][sl].clone().requires_grad_()
    l = moco(q, k); l.backward(); moco.enqueue(k); moco.enqueue(d['q'][sl])
    res['moco'] = dict(loss=l.item(), g=q.grad, queue=moco.queue.clone(), ptr=int(moco.ptr))
    s = d['s'][:,sl].clone().requires_grad_()
    l = dino(s, d['t'][:,sl]); l.backward(); dino.update_center(d['t'][:,sl])
    res['dino'] = dict(loss=l.item(), g=s.grad, center=dino.center.clone())
    return res

def losses(out):
    rank,ws = dist.get_rank(),dist.get_world_size()
    torch.save(loss_values(data(ws), slice(rank*B, (rank+1)*B)), Path(out)/f"losses_{rank}.pt")

def one_step(method, x):
    "One training step of `method` with fastai on the images `x` as one batch (no augmentation, BatchNorm-free model)"
    from fastai.learner import Learner
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.callback.core import Callback, CancelFitException
    from fastai.optimizer import SGD
    from fasttransform import Pipeline
    from self_supervised.vision import byol, moco, dino
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), 16), nn.ReLU(), nn.Linear(16, 16))
    ident = lambda n: [Pipeline([], split_idx=0) for _ in range(n)]
    if method=='moco': model,cb = moco.create_moco_model(enc, 32, D),moco.MOCO(ident(2), K=48*B, m=0.9)   # the same queue whatever the batch: a multiple of B, 2B and 3B
    elif method=='dino': model,cb = dino.create_dino_model(enc, out_dim=D, hidden_size=32, bottleneck_dim=8),dino.DINO(ident(V), large_crop_ids=list(range(T)), m=0.9, freeze_last_layer=0)
    else: model,cb = byol.create_byol_model(enc, 32, D, bn=False),byol.BYOL(ident(2), m=0.9)
    ds = [(o,) for o in x]
    dls = DataLoaders(DataLoader(ds, bs=len(x), shuffle=False, drop_last=True), DataLoader(ds, bs=len(x)))
    dls.n_inp = 1
    res = {}
    class Grab(Callback):
        order = 50
        def after_batch(self):
            mm = self.learn.model
            res.update(loss=self.learn.loss.item())
            if method=='moco': res.update(queue=mm.loss_state.queue.clone(), ptr=int(mm.loss_state.ptr))
            if method=='dino': res.update(center=mm.loss_state.center.clone())
            res.update(teacher={k:v.clone() for k,v in mm.teacher.state_dict().items()})
            raise CancelFitException
    learn = Learner(dls, model, loss_func=lambda *a: None, cbs=[cb], opt_func=SGD, lr=0.1)   # the callback sets the loss
    learn.fit(1, cbs=[Grab()])
    return res

def step_data(ws, seed=0):
    return torch.randn(ws*B, 1, 4, 4, generator=torch.Generator().manual_seed(seed))

def step(out):
    rank,ws = dist.get_rank(),dist.get_world_size()
    x = step_data(ws)[rank*B:(rank+1)*B]
    torch.save({m: one_step(m, x) for m in ('moco','dino','byol')}, Path(out)/f"step_{rank}.pt")

if __name__ == '__main__':
    modes,out = sys.argv[1].split(','),sys.argv[2]     # comma-separated modes: run one after the other in one launch
    dist.init_process_group('gloo')
    for mode in modes: globals()[mode](out)
    dist.barrier(); dist.destroy_process_group()
