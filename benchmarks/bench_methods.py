"""Every pretraining method on the same embedded Fashion-MNIST split, encoder and wall-clock budget: kNN, linear probe and
10-labels-per-class probe accuracy of the encoder, seconds per epoch and peak memory, against the encoder at initialisation.

Each method runs in its own process (peak memory is that process's maximum resident set, or peak CUDA memory on a GPU).
Its number of epochs is the budget divided by the time of a few timed steps, so every method gets about `--budget` seconds.
Adding a method is one entry in `METHODS`: a function `(encoder, size) -> (model, callback)` and its learning rate.

    python benchmarks/bench_methods.py [--budget 120] [--n 2000] [--methods simclr,byol,...] [--device cpu]
"""
import argparse, json, os, resource, subprocess, sys, time, torch, torch.nn as nn
from fastai.learner import Learner
from fastai.callback.core import Callback, CancelFitException
import fastai.callback.schedule  # noqa
from self_supervised.layers import GlobalPool, create_encoder
from self_supervised.data import load_fashion_mnist, dls_from_arrays, foreground_area
from self_supervised.evaluation import probe

AUG = dict(rotate=False, jitter=True, jitter_p=0.8, bw=False, blur=False, stats=None)

def _simclr(enc, size):
    from self_supervised.vision.simclr import create_simclr_model, get_simclr_aug_pipelines, SimCLR
    return create_simclr_model(enc, 256, 64),SimCLR(get_simclr_aug_pipelines(size, resize_scale=(0.5,1), **AUG), temp=0.2)

def _yaware(enc, size):
    from self_supervised.vision.simclr import create_simclr_model, get_simclr_aug_pipelines
    from self_supervised.vision.yaware import YAware
    return create_simclr_model(enc, 256, 64),YAware(get_simclr_aug_pipelines(size, resize_scale=(0.5,1), **AUG), temp=0.2, bandwidth='scott')

def _byol(enc, size):
    from self_supervised.vision.byol import create_byol_model, get_byol_aug_pipelines, BYOL
    return create_byol_model(enc, 256, 64),BYOL(get_byol_aug_pipelines(size, resize_scale=(0.5,1), **AUG), m=0.99)

def _moco(enc, size):
    from self_supervised.vision.moco import create_moco_model, get_moco_aug_pipelines, MOCO
    return create_moco_model(enc, 256, 64),MOCO(get_moco_aug_pipelines(size, resize_scale=(0.5,1), **AUG), K=1024, m=0.99, temp=0.2)

def _dino(enc, size):
    from self_supervised.vision.dino import create_dino_model, get_dino_aug_pipelines, DINO
    augs = get_dino_aug_pipelines((2,2), (size,size//2), (0.4,0.1), (1.,0.4), **AUG)
    return create_dino_model(enc, out_dim=1024, hidden_size=256, bottleneck_dim=64, use_bn=True),DINO(augs, m=0.99)

def _barlow_twins(enc, size):
    from self_supervised.vision.barlow_twins import create_barlow_twins_model, get_barlow_twins_aug_pipelines, BarlowTwins
    return create_barlow_twins_model(enc, 512, 512),BarlowTwins(get_barlow_twins_aug_pipelines(size, resize_scale=(0.5,1), **AUG), lmb=5e-3)

def _vicreg(enc, size):
    from self_supervised.vision.vicreg import create_vicreg_model, get_vicreg_aug_pipelines, VICReg
    return create_vicreg_model(enc, 512, 512),VICReg(get_vicreg_aug_pipelines(size, resize_scale=(0.5,1), **AUG))

def _swav(enc, size):
    from self_supervised.vision.swav import create_swav_model, get_swav_aug_pipelines, SWAV
    augs = get_swav_aug_pipelines(size, num_crops=(2,4), min_scales=(0.3,0.1), max_scales=(1.,0.3), **AUG)
    return create_swav_model(enc, 256, 64, n_protos=30),SWAV(augs, K=512)

# name -> dict(make=(encoder, size) -> (model, callback), lr=..., y=None or 'area' for methods trained with a continuous variable)
METHODS = dict(
    simclr=dict(make=_simclr, lr=1e-2),
    yaware=dict(make=_yaware, lr=1e-2, y='area'),
    byol=dict(make=_byol, lr=3e-3),
    moco=dict(make=_moco, lr=1e-2),
    dino=dict(make=_dino, lr=3e-3),
    barlow_twins=dict(make=_barlow_twins, lr=1e-2),
    vicreg=dict(make=_vicreg, lr=1e-2),
    swav=dict(make=_swav, lr=1e-2),
)

def encoder(): torch.manual_seed(0); return nn.Sequential(*create_encoder('xresnet18', n_in=1, pool_type='avg')[:6], GlobalPool('avg'))

class _StopAfter(Callback):
    "Cancel the fit after `n` training batches, timing the last `n - 1`"
    def __init__(self, n): self.n,self.i,self.t = n,0,None
    def after_batch(self):
        if not self.training: return
        self.i += 1
        if self.i==1: self.t = time.perf_counter()
        if self.i>=self.n: self.dt = (time.perf_counter()-self.t)/(self.n-1); raise CancelFitException

def run_one(name, a):
    "Train `name` for about `a.budget` seconds and return its figures"
    spec = METHODS[name]
    d = load_fashion_mnist()
    xtr,ytr,xte,yte = d['x_train'][:a.n],d['y_train'][:a.n],d['x_test'][:a.n_test],d['y_test'][:a.n_test]
    y = foreground_area(xtr) if spec.get('y')=='area' else ytr
    yv = foreground_area(xte) if spec.get('y')=='area' else yte
    def learner():
        torch.manual_seed(0)
        dls = dls_from_arrays(xtr, y, x_valid=xte, y_valid=yv, bs=a.bs, device=a.device)
        model,cb = spec['make'](encoder(), 28)
        return Learner(dls, model, cbs=[cb])
    cuda = a.device.startswith('cuda')
    if cuda: torch.cuda.reset_peak_memory_stats()
    learn = learner(); stop = _StopAfter(4)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, spec['lr'], cbs=[stop])
    epochs = max(1, round(a.budget/(stop.dt*len(learn.dls.train))))
    learn = learner()
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, spec['lr'])
    t = time.perf_counter()-t
    losses = [float(o) for o in learn.recorder.losses]
    res = probe(learn.model.encoder, xtr[:,None], ytr, xte[:,None], yte, few_labels=10)
    peak = torch.cuda.max_memory_allocated()/2**20 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024
    return dict(method=name, epochs=epochs, s_per_epoch=t/epochs, peak_mib=peak, loss_first=sum(losses[:4])/4, loss_last=sum(losses[-4:])/4, **res)

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--budget', type=float, default=120, help='training seconds per method')
    p.add_argument('--n', type=int, default=2000); p.add_argument('--n-test', type=int, default=1000); p.add_argument('--bs', type=int, default=128)
    p.add_argument('--methods', default=','.join(METHODS)); p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one: print(json.dumps(run_one(a.one, a))); return
    d = load_fashion_mnist()
    r0 = probe(encoder(), d['x_train'][:a.n,None], d['y_train'][:a.n], d['x_test'][:a.n_test,None], d['y_test'][:a.n_test], few_labels=10)
    rows = [dict(method='random init', **r0)]
    for name in a.methods.split(','):
        if name not in METHODS: raise SystemExit(f"unknown method {name!r}; one of {list(METHODS)}")
        args = [sys.executable, __file__, '--one', name] + [f'--{k.replace("_","-")}={v}' for k,v in vars(a).items() if k not in ('one','methods')]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode: print(f"{name} failed:\n{r.stderr[-2000:]}", file=sys.stderr); continue
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"{a.n} training images, {a.n_test} test images, budget {a.budget:.0f} s per method on {a.device} ({torch.get_num_threads()} threads)")
    print(f"{'method':12}{'epochs':>7}{'kNN':>8}{'linear':>8}{'10/class':>9}{'s/epoch':>9}{'peak MiB':>10}{'loss':>17}")
    for r in rows:
        ep = f"{r['epochs']:7d}" if 'epochs' in r else ' '*7
        tail = f"{r['s_per_epoch']:9.1f}{r['peak_mib']:10.0f}{r['loss_first']:8.3f} ->{r['loss_last']:6.3f}" if 'epochs' in r else ''
        print(f"{r['method']:12}{ep}{r['knn_acc']:8.3f}{r['linear_acc']:8.3f}{r['few_acc']:9.3f}{tail}")

if __name__ == '__main__': main()
