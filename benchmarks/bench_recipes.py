"""SimCLR recipe experiments on the embedded Fashion-MNIST split (5,000 train / 1,000 test), one recipe per run, library API only.

Prints the kNN / linear probes of a random encoder of the recipe's architecture and of the pretrained encoder (and the probes
during training), the training time, and appends the result as one JSON line to `--log`. Options are key=value pairs:

    python benchmarks/bench_recipes.py name=fastai-stem stem_szs=32,32,64 epochs=8
    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_recipes.py name=bs32 bs=32 epochs=8 threads=1   # two recipes side by side

Defaults are the CLI's default SimCLR recipe, read from its record (xresnet18, widen 0.5, stem_stride 2, stem widths 16,16,64, 9 epochs, bs 64, lr 1e-2,
temp 0.3, colour-jitter strength 1.0 (jitter_s), min-scale 0.5, weight decay 1e-3 (wd; fastai's Adam default, decoupled, is 1e-2), projector 512-128 with BatchNorm, channels_last); pool is the encoder's global pooling (catavgmax, avg, ...); stem_szs is fastai's XResNet `stem_szs` (its own: 32,32,64);
pool_at moves the stem's max-pool (3: after the stem's three convolutions, 2: before the third); stem_out=32 ends the stem at the first stage's width;
decoupled=1 is the CLI's DCL loss (0: NT-Xent); probe_every=0 trains without probes.
With Debian's dataset-fashion-mnist installed, every probe is also measured on the 9,000 test images of Fashion-MNIST outside the
embedded split (`knn9k`, `linear9k`): a standard error of 0.4 points instead of 1.1, on images no recipe was chosen on.
"""
import json, sys, time, torch
from fastai.learner import Learner
from fastai.torch_core import set_seed
from fastai.callback.schedule import fit_one_cycle  # noqa: patches Learner
from self_supervised.vision.simclr import create_encoder, create_simclr_model, get_simclr_aug_pipelines, SimCLR
from self_supervised.data import load_fashion_mnist, dls_from_arrays
from self_supervised.evaluation import probe, ProbeCallback

from self_supervised.config import method_config
from self_supervised.methods import get_method
_c,_m = method_config('simclr', device='cpu'),get_method('simclr')    # the command's recipe: its record, read, not copied
DEFAULTS = dict(name='default', arch=_c['arch'], widen=_c['widen'], stem_stride=_c['stem_stride'], stem_szs=f"{_c['stem_width']},{_c['stem_width']},64",
                epochs=_c['epochs'], bs=_c['bs'], lr=_c['lr'], temp=_c['temp'], min_scale=_c['min_scale'], hidden=_m.model_kw['hidden_size'],
                bn=_c['projector_bn'], pool='catavgmax', jitter_s=_c['jitter_strength'], wd=_c['wd'], probe_every=2, seed=0, threads=2,
                log='recipes.jsonl', pool_at=3, stem_out=64, decoupled=_c['decoupled'])

def parse(argv):
    cfg = dict(DEFAULTS)
    for kv in argv:
        k,v = kv.split('=', 1)
        if k not in cfg: sys.exit(f"unknown option {k!r}; options: {', '.join(DEFAULTS)}")
        cfg[k] = v if isinstance(DEFAULTS[k], str) else type(DEFAULTS[k])(float(v))
    return cfg

def heldout(xte):
    "The 9,000 Fashion-MNIST test images outside the embedded split, if the full dataset is installed, else None"
    import numpy as np
    try: f = load_fashion_mnist(full=True)
    except FileNotFoundError: return None
    emb = set(map(bytes, xte.reshape(len(xte), -1)))
    keep = np.array([bytes(x) not in emb for x in f['x_test'].reshape(len(f['x_test']), -1)])
    return f['x_test'][keep][:,None],f['y_test'][keep]

def probes(enc, xtr, ytr, xte, yte, held, stats):
    "probe on the embedded split, and kNN / linear on the held-out images"
    res = probe(enc, xtr, ytr, xte, yte, stats=stats)
    if held is not None: res.update({f'{k[:-4]}9k':v for k,v in probe(enc, xtr, ytr, *held, stats=stats).items()})
    return res

def _fmt(r): return '  '.join(f"{k} {v:.4f}" for k,v in r.items())

def main():
    cfg = parse(sys.argv[1:])
    torch.set_num_threads(cfg['threads'])
    set_seed(cfg['seed'], reproducible=True)
    d = load_fashion_mnist()
    xtr,ytr,xte,yte = d['x_train'][:,None],d['y_train'],d['x_test'][:,None],d['y_test']
    stats = [0.5],[0.5]
    enc = create_encoder(cfg['arch'], n_in=1, stem_stride=cfg['stem_stride'], widen=cfg['widen'],
                         stem_szs=tuple(int(s) for s in cfg['stem_szs'].split(',')), pool_type=cfg['pool'])
    if cfg['pool_at']!=3:                        # move the stem's max-pool to index pool_at (2: between the 2nd and 3rd convolution)
        mods = list(enc.children()); mods.insert(cfg['pool_at'], mods.pop(3)); enc = torch.nn.Sequential(*mods)
    if cfg['stem_out']!=64:                      # the stem ends at the first stage's width (32 at widen 0.5), whose first block then needs no 1x1 shortcut
        from fastai.layers import ConvLayer, ResBlock
        enc[2],enc[4][0] = ConvLayer(enc[1][0].out_channels, cfg['stem_out'], ks=3),ResBlock(1, cfg['stem_out'], enc[4][0].convpath[0][0].out_channels)
    held = heldout(xte)
    rand = probes(enc, xtr, ytr, xte, yte, held, stats)
    print(f"{cfg['name']}: random init  {_fmt(rand)}", flush=True)
    augs = get_simclr_aug_pipelines(28, resize_scale=(cfg['min_scale'],1.), rotate=False, jitter=True, jitter_p=0.8, jitter_s=cfg['jitter_s'], bw=False, blur=False, stats=stats)
    model = create_simclr_model(enc, cfg['hidden'], 128, bn=bool(cfg['bn'])).to(memory_format=torch.channels_last)
    pc = [ProbeCallback(every=cfg['probe_every'], stats=stats)] if cfg['probe_every'] else []   # probe_every=0: no probes during training
    learn = Learner(dls_from_arrays(xtr, ytr, x_valid=xte, y_valid=yte, bs=cfg['bs'], device='cpu'), model, cbs=[SimCLR(augs, temp=cfg['temp'], decoupled=bool(cfg['decoupled'])), *pc])
    t = time.time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(cfg['epochs'], cfg['lr'], wd=cfg['wd'])
    secs = time.time()-t
    res = probes(learn.model.encoder, xtr, ytr, xte, yte, held, stats)
    print(f"{cfg['name']}: pretrained   {_fmt(res)}  ({secs:.0f} s of training, {cfg['threads']} threads)")
    print(f"{cfg['name']}: gain over random  " + '  '.join(f"{k} {res[k]-rand[k]:+.4f}" for k in res))
    with open(cfg['log'], 'a') as f: f.write(json.dumps(dict(cfg=cfg, secs=secs, random=rand, pretrained=res, history=pc[0].history if pc else []))+'\n')

if __name__ == '__main__': main()
