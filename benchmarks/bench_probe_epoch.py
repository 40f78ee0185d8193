"""The cost of one probe epoch of `self_supervised pretrain`, before and after the health figures (issue 29).

The probes during training embed `report.PROBE_ITEMS` (5,000) images of each split (`ProbeCallback(max_items=PROBE_ITEMS)`,
whatever the data's size), so a probe epoch costs the same on `--full` (60,000 / 10,000 images) as on any data of that many
images; it grows with the encoder's cost per image (`--full`: stem stride 1, four times the stride-2 default). This script
times, on the run's first PROBE_ITEMS images of each split, with the encoder, projector and views of the recipe:

- before: `probe()` as the callback called it until issue 29 (it computes the features itself): kNN and linear probe;
- after: what `ProbeCallback.after_epoch` does now: the features once (held-out and training), the probes on them
  (`probe_figures`) and the health figures on the held-out features (`health(..., features=)`: RankMe of features and
  projector output, spread, uniformity, and the alignment of two views of `ALIGNMENT_ITEMS` images), each part timed;
- a few training steps of the recipe, for the cost of a training epoch (steps per epoch × time per step).

    flock /work/notes/heavy.lock env OMP_NUM_THREADS=2 python benchmarks/bench_probe_epoch.py --full
"""
import argparse, time, torch
from self_supervised.config import method_config, load_run_data
from self_supervised.methods import create_method_model, input_stats
from self_supervised.evaluation import probe, probe_figures, get_features
from self_supervised.health import health, projector_of, effective_rank, view_embeddings, project
from self_supervised import report

def timed(f, *a, **k):
    t = time.perf_counter(); r = f(*a, **k); return r,time.perf_counter()-t

def main():
    p = argparse.ArgumentParser(); p.add_argument('--full', action='store_true'); p.add_argument('--steps', type=int, default=5)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args(); torch.set_num_threads(a.threads)
    cfg = method_config('simclr', full=a.full, device='cpu', out='unused')
    (xtr,ytr,xte,yte),desc = load_run_data(cfg)
    n = report.PROBE_ITEMS
    print(f"{desc}\nprobe epoch on the first {min(n, len(xtr))} / {min(n, len(xte))} images (report.PROBE_ITEMS={n}); torch threads {a.threads}")
    xtr,ytr,xte,yte = [torch.as_tensor(v[:n]) for v in (xtr,ytr,xte,yte)]
    torch.manual_seed(0)
    model,cb = create_method_model(cfg)
    stats,enc,head = input_stats(cfg),model.encoder,projector_of(model)
    _,before = timed(probe, enc, xtr, ytr, xte, yte, stats=stats)
    print(f"before (probe(): features + kNN + linear): {before:.1f} s")
    fte,t_fte = timed(get_features, enc, xte, stats=stats)
    ftr,t_ftr = timed(get_features, enc, xtr, stats=stats)
    _,t_probes = timed(probe_figures, ftr, ytr, fte, yte)
    h,t_health = timed(health, enc, xte, head, stats, cb.aug_pipelines, features=fte)
    _,t_rank = timed(lambda: (effective_rank(fte), effective_rank(project(head, fte))))
    _,t_views = timed(view_embeddings, enc, head, xte, cb.aug_pipelines)
    after = t_fte+t_ftr+t_probes+t_health
    print(f"after: features {t_fte+t_ftr:.1f} s (held-out {t_fte:.1f}, training {t_ftr:.1f}), probes {t_probes:.1f} s, health {t_health:.1f} s "
          f"(of which the two views' alignment {t_views:.1f} s, the ranks {t_rank:.1f} s): {after:.1f} s")
    print('health: ' + '  '.join(f"{k} {v:.4f}" for k,v in h.items()))
    # a training epoch: steps of the recipe's batch
    from fastai.learner import Learner
    from self_supervised.data import dls_from_arrays
    dls = dls_from_arrays(xtr.numpy(), ytr.numpy(), x_valid=xte[:256].numpy(), y_valid=yte[:256].numpy(), bs=cfg['bs'], device='cpu')
    learn = Learner(dls, model, wd=cfg['wd'], cbs=[cb])
    from fastai.callback.progress import ProgressCallback
    learn.remove_cb(ProgressCallback); learn.logger = lambda *a: None
    it = iter(dls.train); learn.opt = None; learn.create_opt()
    from fastai.callback.core import CancelFitException
    class Stop(__import__('fastai.callback.core', fromlist=['Callback']).Callback):
        def before_fit(self): self.n,self.t = 0,None
        def after_batch(self):
            self.n += 1
            if self.n==1: self.t = time.perf_counter()                 # the first step warms up
            if self.n==a.steps+1: self.secs = (time.perf_counter()-self.t)/a.steps; raise CancelFitException()
    s = Stop(); learn.fit(1, 1e-3, cbs=[s])
    n_steps = len(load_run_data(cfg)[0][0])//cfg['bs']
    epoch = s.secs*n_steps
    print(f"training: {s.secs:.3f} s per step of {cfg['bs']} images x {n_steps} steps = {epoch:.0f} s per epoch")
    print(f"probe epoch / training epoch: before {before/epoch:.1%}, after {after/epoch:.1%} (health alone {t_health/epoch:.1%})")

if __name__ == '__main__': main()
