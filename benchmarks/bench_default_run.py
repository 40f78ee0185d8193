"""Quality of the default main job: runs `self_supervised pretrain` with our augmentations and with fastai's batch augmentations,
same budget, and prints kNN / linear-probe accuracy against a random encoder and raw pixels, and the wall time.

    python benchmarks/bench_default_run.py [--full]     (--full: the whole Fashion-MNIST from Debian's package, longer)
"""
import json, subprocess, sys, time, tempfile
from pathlib import Path

def run(extra, out):
    t = time.time()
    subprocess.run([sys.executable, '-m', 'self_supervised', 'pretrain', '--out', str(out), *extra], check=True, capture_output=True)
    return time.time()-t, json.loads((out/'metrics.json').read_text())['summary']

def main():
    extra = ['--full', '--epochs', '4'] if '--full' in sys.argv else []
    with tempfile.TemporaryDirectory() as tmp:
        for name,aug in [('self_supervised augs', []), ("fastai's aug_transforms", ['--augs', 'fastai'])]:
            secs,s = run(extra+aug, Path(tmp)/name.replace(' ', '_').replace("'", ''))
            print(f"\n{name}: {secs/60:.1f} min wall")
            for k,r in s.items(): print(f"  {k:12} kNN {r['knn_acc']:.4f}   linear {r['linear_acc']:.4f}")

if __name__ == '__main__': main()
