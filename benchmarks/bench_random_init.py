"""How much the random-encoder baseline of the default run varies with the draw of its weights.

Probes (kNN, linear) `--seeds` random encoders of the command's default architecture on the embedded Fashion-MNIST split
(5,000 / 1,000 images), each drawn after `torch.manual_seed(seed)` as the command's summary draws its own (seed 0), and prints
each draw, the mean and the standard deviation:

    python benchmarks/bench_random_init.py --seeds 6
"""
import argparse, numpy as np, torch
from self_supervised.cli import method_config, create_method_model, input_stats
from self_supervised.data import load_fashion_mnist
from self_supervised.evaluation import probe

def main():
    p = argparse.ArgumentParser(); p.add_argument('--seeds', type=int, default=6); p.add_argument('--threads', type=int, default=2)
    a = p.parse_args(); torch.set_num_threads(a.threads)
    cfg = method_config('simclr', out='unused')
    d = load_fashion_mnist()
    xtr,ytr,xte,yte = d['x_train'][:,None],d['y_train'],d['x_test'][:,None],d['y_test']
    res = []
    for s in range(a.seeds):
        torch.manual_seed(s); enc = create_method_model(cfg)[0].encoder   # the encoder's weights are drawn first
        r = probe(enc, xtr, ytr, xte, yte, stats=input_stats(cfg)); res.append((r['knn_acc'], r['linear_acc']))
        print(f"seed {s}: kNN {r['knn_acc']:.4f}  linear {r['linear_acc']:.4f}", flush=True)
    m,sd = np.mean(res, 0),np.std(res, 0, ddof=1)
    print(f"random init over {a.seeds} draws: kNN {m[0]:.4f} ± {sd[0]:.4f}  linear {m[1]:.4f} ± {sd[1]:.4f}")

if __name__ == '__main__': main()
