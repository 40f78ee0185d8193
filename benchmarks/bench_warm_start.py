"""Does starting from a previous run's encoder pay? (issue 28, "Start from weights")

SimCLR is pretrained on other data, MNIST-like digits made from scikit-learn's `load_digits` (1,797 images of 8x8 upsampled to
28x28 grey PNGs, one folder per digit), with the command; then the default embedded-data SimCLR run (Fashion-MNIST, 5,000 train
/ 1,000 held out) is run twice with the same budget: from the digits run's encoder (`--init DIGITS_RUN`) and from random weights.
Prints each run's summary table: pretrained, the start's probes ('init weights', warm start only), random init, raw pixels.

    python benchmarks/bench_warm_start.py                   # --epochs 3 each Fashion-MNIST run, 5 on the digits: about 15 min on 2 cores
    python benchmarks/bench_warm_start.py --epochs 9        # the default run's budget
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

def digits_folder(d):
    "scikit-learn's 1,797 digits at 28x28 (bilinear), grey PNGs in one folder per class"
    import numpy as np, torch, torch.nn.functional as F
    from PIL import Image
    from sklearn.datasets import load_digits
    ds = load_digits()
    x = F.interpolate(torch.tensor(ds.images, dtype=torch.float32)[:,None]/16, size=(28,28), mode='bilinear', align_corners=False)
    x = (x.clamp(0,1)*255).round().to(torch.uint8)[:,0].numpy()
    for i,(img,y) in enumerate(zip(x, ds.target)):
        (d/str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, 'L').save(d/str(y)/f'{i:04d}.png')
    return d

def pretrain(out, *extra, seed=0):
    "Run `self_supervised pretrain --out OUT EXTRA` on the CPU; (wall seconds, metrics.json)"
    t = time.time()
    cmd = [sys.executable, '-m', 'self_supervised', 'pretrain', '--out', str(out), '--device', 'cpu', '--seed', str(seed), *map(str, extra)]
    print('$', ' '.join(cmd[1:]), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'CUDA_VISIBLE_DEVICES': ''})
    if r.returncode: sys.exit(r.stdout[-2000:] + r.stderr[-3000:])
    return time.time()-t, json.loads((Path(out)/'metrics.json').read_text())

def table(rows):
    print(f"  {'':13} {'kNN':>7} {'linear':>7} {'few-label (10/class)':>22}")
    for k,r in rows.items(): print(f"  {k:13} {r['knn_acc']:7.4f} {r['linear_acc']:7.4f} {r['few_acc']:>14.4f} ± {r['few_sd']:.3f}")

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=3, help='epochs of each Fashion-MNIST run (the default run has 9)')
    p.add_argument('--digits-epochs', type=int, default=5, help='epochs of the digits run')
    p.add_argument('--seed', type=int, default=0, help='seed of every run')
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = digits_folder(tmp/'digits')
        secs,m = pretrain(tmp/'digits_run', '--data', data, '--size', 28, '--n-in', 1, '--epochs', a.digits_epochs, seed=a.seed)
        print(f"\ndigits run: {secs/60:.1f} min wall, {a.digits_epochs} epochs on {sum(1 for _ in data.rglob('*.png'))} digits (80 % trained on, 20 % held out)")
        table(m['summary'])
        res = {}
        for name,extra in [('warm start (--init digits run)', ['--init', tmp/'digits_run']), ('random start', [])]:
            secs,m = pretrain(tmp/name.split()[0], '--epochs', a.epochs, *extra, seed=a.seed)
            res[name] = m['summary']
            print(f"\n{name}: {secs/60:.1f} min wall ({m['train_seconds']:.0f} s of training), {a.epochs} epochs on the embedded Fashion-MNIST (5,000 / 1,000)")
            table(m['summary'])
            print('  kNN over the probes:', ' '.join(f"{h['knn_acc']:.3f}" for h in m['probe']))
        w,c = (res[k]['pretrained'] for k in res)
        print(f"\nwarm minus random start, pretrained rows: kNN {w['knn_acc']-c['knn_acc']:+.4f}  linear {w['linear_acc']-c['linear_acc']:+.4f}  few-label {w['few_acc']-c['few_acc']:+.4f}")

if __name__ == '__main__': main()
