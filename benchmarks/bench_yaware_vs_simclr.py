"""y-Aware vs SimCLR, same encoder, augmentations and budget, on the embedded Fashion-MNIST subset with the foreground area as y:
how well each embedding predicts y (ridge R², kNN R²) and the class (kNN accuracy), against the encoder at initialisation.

    python benchmarks/bench_yaware_vs_simclr.py [--epochs 5] [--n 2000]
"""
import argparse, torch, torch.nn as nn
from fastai.learner import Learner
import fastai.callback.schedule  # noqa
from self_supervised.vision.simclr import create_encoder, create_simclr_model, get_simclr_aug_pipelines, SimCLR
from self_supervised.vision.yaware import YAware
from self_supervised.layers import GlobalPool
from self_supervised.data import load_fashion_mnist, dls_from_arrays, foreground_area
from self_supervised.evaluation import get_features, ridge_r2, knn_predict, r2_score, knn_accuracy
torch.set_num_threads(2)

def main():
    p = argparse.ArgumentParser(); p.add_argument('--epochs', type=int, default=5); p.add_argument('--n', type=int, default=2000); a = p.parse_args()
    d = load_fashion_mnist()
    xtr,xte = d['x_train'][:a.n,None],d['x_test'][:,None]
    ytr,yte = foreground_area(xtr),foreground_area(xte)
    def encoder(): torch.manual_seed(0); return nn.Sequential(*create_encoder('xresnet18', n_in=1, pool_type='avg')[:6], GlobalPool('avg'))
    def scores(enc):
        ftr,fte = get_features(enc, xtr),get_features(enc, xte)
        return dict(ridge_r2=ridge_r2(ftr, ytr, fte, yte), knn_r2=r2_score(yte, knn_predict(ftr, torch.tensor(ytr), fte)),
                    class_knn=knn_accuracy(ftr, d['y_train'][:a.n], fte, d['y_test']))
    res = {'random init': scores(encoder())}
    augs = get_simclr_aug_pipelines(28, rotate=False, jitter=True, jitter_p=0.8, bw=False, blur=False, resize_scale=(0.5,1), stats=None)
    for name,cb in [('SimCLR', SimCLR(augs, temp=0.2)), ('y-Aware', YAware(augs, temp=0.2, bandwidth='scott'))]:
        torch.manual_seed(0)
        dls = dls_from_arrays(xtr, ytr, x_valid=xte, y_valid=yte, bs=128, device='cpu')
        learn = Learner(dls, create_simclr_model(encoder(), 128, 64), cbs=[cb])
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, 1e-2)
        res[name] = scores(learn.model.encoder)
    print(f"{'':12}{'ridge R2(y)':>13}{'kNN R2(y)':>11}{'class kNN':>11}   ({a.n} images, {a.epochs} epochs, y = foreground area)")
    for k,r in res.items(): print(f"{k:12}{r['ridge_r2']:13.4f}{r['knn_r2']:11.4f}{r['class_knn']:11.4f}")

if __name__ == '__main__': main()
