"""UMAP (umap-learn) or t-SNE (scikit-learn) for `embedding.png`: speed and quality at 1,000, 10,000 and 60,000 points.

The points are the features of a pretrained encoder (`--run`, a run directory; default: the raw pixels) of the full Fashion-MNIST
(Debian's dataset-fashion-mnist): the 10,000 test images and the 60,000 training images, and the first 1,000 test images (the
size of the embedded default run's held-out set). Both methods get the same input: the L2-normalised features reduced to 50
dimensions by PCA (as `self_supervised.pictures.embed_2d` does). Quality, against the features themselves:
- kNN accuracy preserved: leave-one-out 10-NN accuracy of the labels in the 2D map, next to the same in the 50-d input;
- trustworthiness (Venna & Kaski 2001; scikit-learn's, 10 neighbours) on a seeded random subsample of 5,000 points (it needs an
  N x N distance matrix, 14 GB at 60,000).
Time is wall time of the fit on the CPU threads given by OMP_NUM_THREADS / NUMBA_NUM_THREADS. UMAP's first call in a process also
compiles its numba code: `fresh process` is what a run pays once (import + compile + fit of 1,000 points), measured in a subprocess.

    OMP_NUM_THREADS=2 NUMBA_NUM_THREADS=2 python benchmarks/bench_embedding_map.py --run RUN_DIR
    OMP_NUM_THREADS=1 python benchmarks/bench_embedding_map.py --run RUN_DIR --cost-only   # what the pictures add to the default run
"""
import argparse, json, os, subprocess, sys, time
import numpy as np, torch

def features(run, x):
    if run is None: return x.reshape(len(x), -1).astype(np.float32)/255
    from self_supervised.cli import load_encoder
    from self_supervised.config import run_config
    from self_supervised.methods import input_stats
    from self_supervised.evaluation import get_features
    return get_features(load_encoder(run).eval(), torch.as_tensor(x[:,None]), bs=500, stats=input_stats(run_config(run))).numpy()

def prep(f, dims=50, seed=0):
    from sklearn.decomposition import PCA
    f = f/np.linalg.norm(f, axis=1, keepdims=True).clip(1e-12)
    return PCA(min(dims, f.shape[1]), random_state=seed).fit_transform(f).astype(np.float32)

def fit(method, x, seed=0):
    t0 = time.time()
    if method=='tsne':
        from sklearn.manifold import TSNE
        y = TSNE(2, init='pca', learning_rate='auto', perplexity=30, random_state=seed, n_jobs=int(os.environ.get('OMP_NUM_THREADS', 2))).fit_transform(x)
    else:
        import umap
        y = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=None, n_jobs=int(os.environ.get('NUMBA_NUM_THREADS', 2))).fit_transform(x)
    return y,time.time()-t0

def loo_knn(z, y, k=10):
    from sklearn.neighbors import NearestNeighbors
    idx = NearestNeighbors(n_neighbors=k+1).fit(z).kneighbors(z, return_distance=False)[:,1:]
    votes = np.zeros((len(z), y.max()+1)); np.add.at(votes, (np.arange(len(z))[:,None], y[idx]), 1)
    return float((votes.argmax(1)==y).mean())

def trust(x, z, n=5000, seed=0):
    from sklearn.manifold import trustworthiness
    i = np.random.default_rng(seed).permutation(len(x))[:n]
    return float(trustworthiness(x[i], z[i], n_neighbors=10))

def fresh(method):
    "Seconds of import + first fit of 1,000 points in a new process"
    code = (f"import sys,time; t0=time.time(); sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import numpy as np; from bench_embedding_map import fit; x=np.random.default_rng(0).normal(size=(1000,50)).astype(np.float32); "
            f"fit({method!r}, x); print(time.time()-t0)")
    return float(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split()[-1])

def default_run_cost(run, repeats=3):
    "Seconds `run_pictures` adds to `self_supervised pretrain` on the embedded data (features given, as the last probe computed them)"
    import tempfile, shutil
    from self_supervised.cli import load_encoder
    from self_supervised.config import run_config, load_run_data
    from self_supervised.methods import input_stats
    from self_supervised.evaluation import get_features
    from self_supervised.pictures import run_pictures
    cfg = run_config(run); (xtr,ytr,xte,yte),_ = load_run_data({**cfg, 'full': False, 'data': None, 'n_train': None, 'n_test': None})
    enc = load_encoder(run).eval(); st = input_stats(cfg)
    t0 = time.time(); feats = dict(train=get_features(enc, xtr, 256, st), test=get_features(enc, xte, 256, st)); tf = time.time()-t0
    ts = []
    for _ in range(repeats):
        d = tempfile.mkdtemp(); shutil.copy(os.path.join(run, 'config.json'), d)
        t0,c0 = time.time(),time.process_time(); run_pictures(d, enc, xtr, ytr, xte, yte, st, features=feats)
        ts.append((round(time.time()-t0, 2), round(time.process_time()-c0, 2))); shutil.rmtree(d)
    return dict(points='default run (5,000 + 1,000 embedded)', run_pictures_wall_cpu_seconds=ts, features_seconds=round(tf, 1))

def main():
    p = argparse.ArgumentParser(); p.add_argument('--run', default=None); p.add_argument('--sizes', default='1000,10000,60000')
    p.add_argument('--methods', default='umap,tsne'); p.add_argument('--out', default=None)
    p.add_argument('--cost-only', action='store_true', help="only the seconds run_pictures adds to the default run (needs --run)")
    a = p.parse_args()
    if a.run: print(default_run_cost(a.run), flush=True)
    if a.cost_only: return
    from self_supervised.data import load_fashion_mnist
    d = load_fashion_mnist(full=True)
    t0 = time.time(); fte,ftr = features(a.run, d['x_test']),features(a.run, d['x_train'])
    print(f"features of {len(fte)+len(ftr)} images: {time.time()-t0:.0f} s", flush=True)
    sets = {1000: (fte[:1000], d['y_test'][:1000]), 10000: (fte, d['y_test']), 60000: (ftr, d['y_train'])}
    res = []
    for m in a.methods.split(','):
        r = dict(method=m, points='fresh process (1,000)', seconds=fresh(m)); print(r, flush=True); res.append(r)
    for n in map(int, a.sizes.split(',')):
        f,y = sets[n]; x = prep(f); y = y.astype(int)
        base = loo_knn(x, y)
        for m in a.methods.split(','):
            z,s = fit(m, x)
            r = dict(method=m, points=n, seconds=round(s, 1), knn_2d=round(loo_knn(z, y), 4), knn_50d=round(base, 4), trust=round(trust(x, z), 4))
            print(r, flush=True); res.append(r)
    if a.out: open(a.out, 'w').write(json.dumps(res, indent=1))

if __name__=='__main__': main()
