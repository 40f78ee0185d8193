"""Does the default main job pay? Runs `self_supervised pretrain` with today's defaults and with the previous default
(NT-Xent, until 2026-12-02; DCL since) on the same embedded split, in one run,
and prints kNN / linear / few-label accuracy of each encoder against a random encoder and raw pixels, with the wall time,
on the embedded split and, for data the recipe was never tuned on, scikit-learn's digits (frozen encoder).

    python benchmarks/bench_default_run.py            # both recipes, about 20 min on 2 cores
    python benchmarks/bench_default_run.py --default  # only today's default
"""
import json, os, subprocess, sys, time, tempfile
from pathlib import Path

RECIPES = {'default (today)': [],
           'previous default': ['--decoupled', '0']}

def run(extra, out):
    t = time.time()
    r = subprocess.run([sys.executable, '-m', 'self_supervised', 'pretrain', '--out', str(out), *extra], capture_output=True, text=True,
                       env={**os.environ, 'CUDA_VISIBLE_DEVICES': ''})
    if r.returncode: sys.exit(r.stderr[-3000:])
    return time.time()-t, json.loads((out/'metrics.json').read_text())

def digits():
    "scikit-learn's 8x8 digits (1,797 images, never used for tuning) at 28x28, split 1,000 / 797"
    import numpy as np, torch, torch.nn.functional as F
    from sklearn.datasets import load_digits
    d = load_digits()
    x = F.interpolate(torch.tensor(d.images, dtype=torch.float32)[:,None]/16, size=(28,28), mode='bilinear', align_corners=False)
    x = (x.clamp(0,1)*255).round().to(torch.uint8).numpy()
    idx = np.random.default_rng(0).permutation(len(x))
    return x[idx[:1000]],d.target[idx[:1000]],x[idx[1000:]],d.target[idx[1000:]]

def transfer(out):
    "kNN / linear / few-label on digits of the run's encoder, a random one and raw pixels"
    import torch
    from self_supervised.cli import load_encoder
    from self_supervised.evaluation import probe, RawPixels
    enc = load_encoder(out)
    torch.manual_seed(0)
    return {k:probe(e, *digits(), stats=([0.5],[0.5]), few_labels=10) for k,e in [('pretrained', enc), ('random init', load_encoder(out, weights=False)), ('raw pixels', RawPixels())]}

def table(rows, indent='  '):
    print(f"{indent}{'':12} {'kNN':>7} {'linear':>7} {'few-label (10/class)':>22}")
    for k,r in rows.items(): print(f"{indent}{k:12} {r['knn_acc']:7.4f} {r['linear_acc']:7.4f} {r['few_acc']:>14.4f} ± {r['few_sd']:.3f}")
    p,rp,ri = rows['pretrained'],rows['raw pixels'],rows['random init']
    for name,b in [('raw pixels', rp), ('random', ri)]:
        print(f"{indent}pretrained - {name+':':12} kNN {p['knn_acc']-b['knn_acc']:+.4f}  linear {p['linear_acc']-b['linear_acc']:+.4f}  few-label {p['few_acc']-b['few_acc']:+.4f}")

def main():
    names = list(RECIPES)[:1] if '--default' in sys.argv else list(RECIPES)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            secs,m = run(RECIPES[name], Path(tmp)/str(names.index(name)))
            print(f"\n{name}: {secs/60:.1f} min wall ({m['train_seconds']:.0f} s of training), {' '.join(RECIPES[name]) or 'no options'}")
            print("  Fashion-MNIST, embedded split (5,000 train / 1,000 test):"); table(m['summary'])
            print("  transfer, never tuned on: scikit-learn digits at 28x28 (1,000 / 797), encoder frozen:"); table(transfer(Path(tmp)/str(names.index(name))))
            knn = [h['knn_acc'] for h in m['probe']]
            print(f"  kNN over the probes: {' '.join(f'{v:.3f}' for v in knn)} (last minus best: {knn[-1]-max(knn):+.4f})")

if __name__ == '__main__': main()
