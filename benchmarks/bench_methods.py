"""Every pretraining method on the same embedded Fashion-MNIST split, encoder and wall-clock budget: kNN, linear probe and
10-labels-per-class probe accuracy of the encoder, seconds per epoch and peak memory, against the encoder at initialisation.
Each method runs with the recipe of `self_supervised pretrain --method NAME` (`cli.method_config`, `cli.create_method_model`:
the command's encoder, heads, augmentations, batch size and learning rate), only the number of epochs set by the budget.

Each method runs in its own process (peak memory is that process's maximum resident set, or peak CUDA memory on a GPU).
Its number of epochs is the budget divided by the time of a few timed steps, so every method gets about `--budget` seconds.

    python benchmarks/bench_methods.py [--budget 120] [--n 2000] [--methods simclr,byol,...] [--device cpu]
"""
import argparse, json, os, resource, subprocess, sys, time, torch
from fastai.learner import Learner
from fastai.callback.core import Callback, CancelFitException
import fastai.callback.schedule  # noqa
from self_supervised import cli
from self_supervised.methods import load_methods
from self_supervised.data import load_fashion_mnist, dls_from_arrays, foreground_area
from self_supervised.evaluation import probe

def encoder():
    "The random encoder every method starts from (the command line's architecture, seeded as in `run_one`)"
    cfg = cli.method_config(device='cpu')   # before seeding: resolving the configuration builds an encoder too
    torch.manual_seed(0); return cli.create_method_model(cfg)[0].encoder

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
    cfg = cli.method_config(name, device=a.device, **({} if a.bs is None else dict(bs=a.bs)))
    d = load_fashion_mnist()
    xtr,ytr,xte,yte = d['x_train'][:a.n],d['y_train'][:a.n],d['x_test'][:a.n_test],d['y_test'][:a.n_test]
    y = foreground_area(xtr) if cfg['y']=='area' else ytr
    yv = foreground_area(xte) if cfg['y']=='area' else yte
    def learner():
        torch.manual_seed(0)
        dls = dls_from_arrays(xtr, y, x_valid=xte, y_valid=yv, bs=cfg['bs'], device=a.device)
        model,cb = cli.create_method_model(cfg)
        return Learner(dls, model.to(a.device), wd=cfg['wd'], cbs=[cb])
    cuda = a.device.startswith('cuda')
    if cuda: torch.cuda.reset_peak_memory_stats()
    learn = learner(); stop = _StopAfter(4)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, cfg['lr'], cbs=[stop])
    epochs = max(1, round(a.budget/(stop.dt*len(learn.dls.train))))
    learn = learner()
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, cfg['lr'])
    t = time.perf_counter()-t
    losses = [float(o) for o in learn.recorder.losses]
    res = probe(learn.model.encoder, xtr[:,None], ytr, xte[:,None], yte, stats=cli.input_stats(cfg), few_labels=10)
    peak = torch.cuda.max_memory_allocated()/2**20 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024
    return dict(method=name, epochs=epochs, s_per_epoch=t/epochs, peak_mib=peak, loss_first=sum(losses[:4])/4, loss_last=sum(losses[-4:])/4, **res)

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--budget', type=float, default=120, help='training seconds per method')
    p.add_argument('--n', type=int, default=2000); p.add_argument('--n-test', type=int, default=1000); p.add_argument('--bs', type=int, default=None, help="batch size (default: each method's on the command line)")
    p.add_argument('--methods', default=','.join(load_methods())); p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one: print(json.dumps(run_one(a.one, a))); return
    d = load_fashion_mnist()
    r0 = probe(encoder(), d['x_train'][:a.n,None], d['y_train'][:a.n], d['x_test'][:a.n_test,None], d['y_test'][:a.n_test], stats=cli.input_stats(cli.method_config()), few_labels=10)
    rows = [dict(method='random init', **r0)]
    for name in a.methods.split(','):
        if name not in load_methods(): raise SystemExit(f"unknown method {name!r}; one of {list(load_methods())}")
        args = [sys.executable, __file__, '--one', name] + [f'--{k.replace("_","-")}={v}' for k,v in vars(a).items() if k not in ('one','methods') and v is not None]
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
