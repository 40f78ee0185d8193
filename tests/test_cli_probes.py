"""The reference lines of `probe.png` are measured on the images the probes during training see (in this process, with the
probes' subset made small so that a tiny run has more images than the probes use)."""
import json, torch
from self_supervised import cli, report
from self_supervised.data import load_fashion_mnist
from self_supervised.evaluation import RawPixels, probe

def test_probe_baselines_on_the_probes_subset(tmp_path, monkeypatch):
    monkeypatch.setattr(report, 'PROBE_ITEMS', 100)
    cli.main([str(a) for a in ['pretrain', '--n-train', 256, '--epochs', 1, '--bs', 64, '--few-labels', 0, '--n-test', 400, '--device', 'cpu', '--out', tmp_path/'run']])
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert set(m['probe_baselines'])=={'random init', 'raw pixels'}
    d = load_fashion_mnist()
    on = lambda n_tr, n_te: probe(RawPixels(), d['x_train'][:n_tr,None], d['y_train'][:n_tr], d['x_test'][:n_te,None], d['y_test'][:n_te], stats=([0.5],[0.5]))
    sub,full = on(100, 100),on(256, 400)   # raw pixels: no randomness, so an independent computation gives the same figures
    for k in ('knn_acc','linear_acc'):
        assert m['probe_baselines']['raw pixels'][k]==sub[k] and m['baselines']['raw pixels'][k]==full[k], (k, m, sub, full)
    assert sub['knn_acc']!=full['knn_acc']
