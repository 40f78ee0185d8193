"""Build the class-balanced Fashion-MNIST subset shipped in self_supervised/assets from Debian's package dataset-fashion-mnist.

    apt-get install dataset-fashion-mnist && python scripts/make_fashion_mnist_subset.py
"""
import numpy as np
from self_supervised.data import load_fashion_mnist, balanced_subset, _subset_path

def main(n_train=500, n_test=100, seed=0):
    d = load_fashion_mnist(full=True)
    xtr,ytr = balanced_subset(d['x_train'], d['y_train'], n_train, seed)
    xte,yte = balanced_subset(d['x_test'], d['y_test'], n_test, seed)
    np.savez_compressed(_subset_path(), x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    print(f"wrote {_subset_path()}: {len(xtr)} train + {len(xte)} test images")

if __name__ == '__main__': main()
