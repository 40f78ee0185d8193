"""Training step time of each method at the command's recipe (`self_supervised pretrain --method M`), by precision, memory layout and
torch.compile; and (`--overhead`) one SimCLR step through fastai's Learner against the same step in a plain PyTorch loop.

Each step is a whole fastai training step on synthetic images of the recipe's size and batch (augmentations, forward, loss, backward,
optimiser, the method's after-step work such as the EMA), from `cli.method_config(method, device=...)` and `cli.create_method_model`.
Columns (seconds per step, median of the timed steps after the warm-up steps):

  float32        float32, the model in the default (contiguous) memory layout
  channels_last  float32, channels_last (the layout `create_method_model` returns: the command's step)
  bf16           channels_last under bfloat16 autocast (`self_supervised.precision.DeviceMixedPrecision`, `learn.to_bf16()`)
  fp16           channels_last under float16 autocast with loss scaling (`learn.to_fp16()`; CUDA only)
  compile        channels_last float32, `model.compile()` (torch.compile in place; compilation in the warm-up steps, printed apart)

    OMP_NUM_THREADS=2 python benchmarks/bench_step.py                      # every method, float32, channels_last, bf16, compile on CPU
    python benchmarks/bench_step.py --device cuda --columns channels_last,bf16,fp16 --json step.json   # benchmarks/gpu_check.sh
    python benchmarks/bench_step.py --methods simclr --steps 10 --warmup 3
    python benchmarks/bench_step.py --overhead                             # the Learner's overhead over a plain loop
"""
import argparse, json, math, os, time, torch, numpy as np
from fastai.learner import Learner
from fastai.optimizer import SGD
from fastai.callback.core import Callback, CancelValidException
from fastai.torch_core import TensorImage
from self_supervised import cli
from self_supervised.data import dls_from_arrays
from self_supervised.precision import DeviceMixedPrecision

def _methods():
    "The command's methods: the registry's (self_supervised.methods), else the eight of the first version"
    try:
        from self_supervised.methods import load_methods
        ms = list(load_methods())
        if ms: return tuple(ms)
    except ImportError: pass
    return ('simclr', 'yaware', 'byol', 'moco', 'dino', 'barlow_twins', 'vicreg', 'swav')
COLUMNS = ('float32', 'channels_last', 'bf16', 'compile')
ALL_COLUMNS = ('float32', 'channels_last', 'bf16', 'fp16', 'compile')

def _sync(device):
    if torch.device(device).type=='cuda': torch.cuda.synchronize()

class StepTimer(Callback):
    "Wall time of each training step, from before the method's views (order -20) to after every callback's after_batch (StepEnd)"
    order,run_valid = -20,False
    def __init__(self, device): self.device,self.ts,self.losses = device,[],[]
    def before_batch(self): _sync(self.device); self.t = time.perf_counter()
    def before_validate(self): raise CancelValidException()

class StepEnd(Callback):
    order,run_valid = 200,False
    def after_batch(self):
        tm = self.learn.step_timer
        _sync(tm.device); tm.ts.append(time.perf_counter()-tm.t); tm.losses.append(float(self.learn.loss.detach()))

def _plain(o):
    "`o` with its tensors as plain `torch.Tensor` (not fastai's subclasses), through lists and tuples"
    if isinstance(o, torch.Tensor): return o.as_subclass(torch.Tensor)
    return type(o)(_plain(t) for t in o) if isinstance(o, (list,tuple)) else o

class PlainInputs(Callback):
    "The model's inputs as plain tensors, after the method's views (torch.compile does not trace fastai's tensor subclasses)"
    order = 11
    def before_batch(self): self.learn.xb = _plain(self.learn.xb)

def _data(cfg, n):
    g = np.random.default_rng(0)
    x = g.integers(0, 256, (n, cfg['n_in'], cfg['size'], cfg['size']), dtype=np.uint8)
    y = g.random(n).astype(np.float32) if cfg['method']=='yaware' else None
    return dls_from_arrays(x, y, x_valid=x[:cfg['bs']], y_valid=None if y is None else y[:cfg['bs']], bs=cfg['bs'], device=cfg['device'])

def time_steps(method, column, device='cpu', steps=4, warmup=2):
    "(median s/step of `steps` timed steps, compile/warm-up seconds, last loss) of `method`'s recipe in `column`"
    torch.manual_seed(0)
    cfg = cli.method_config(method, device=device)
    model,cb = cli.create_method_model(cfg)
    if column=='float32': model = model.to(memory_format=torch.contiguous_format)
    model = model.to(device)
    timer = StepTimer(device)
    cbs = [cb, timer, StepEnd()]
    if column in ('bf16','fp16'): cbs.append(DeviceMixedPrecision(amp_mode=column))
    learn = Learner(_data(cfg, cfg['bs']*(steps+warmup)), model, wd=cfg['wd'], cbs=cbs)
    if column=='compile': learn.model.compile(); learn.add_cb(PlainInputs())   # in place: the model keeps its class (the callbacks look for it)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, cfg['lr'])
    ts = timer.ts[warmup:]
    return float(np.median(ts)),float(sum(timer.ts[:warmup])),timer.losses[-1]

def table(methods, columns, device='cpu', steps=4, warmup=2):
    rows = {}
    for m in methods:
        rows[m] = {}
        for c in columns:
            t0 = time.perf_counter()
            try:
                s,w,loss = time_steps(m, c, device, steps, warmup)
                rows[m][c] = dict(s_per_step=s, warmup_s=w, loss=loss, finite=math.isfinite(loss))
            except Exception as e:
                if os.environ.get('BENCH_DEBUG'): import traceback; traceback.print_exc()
                rows[m][c] = dict(error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200])
            print(f"  {m} {c}: {rows[m][c]} ({time.perf_counter()-t0:.0f} s)", flush=True)
    return rows

def print_table(rows, columns, bs):
    print(f"\n| method (bs {bs}) | " + ' | '.join(columns) + ' |')
    print('|---|' + '---|'*len(columns))
    for m,r in rows.items():
        base = r.get(columns[0], {}).get('s_per_step')
        def cell(c):
            o = r[c]
            if 'error' in o: return 'error'
            rel = f" ({base/o['s_per_step']:.2f}x)" if base and c!=columns[0] else ''
            return f"{o['s_per_step']:.3f} s{rel}" + ('' if o['finite'] else ' NaN loss')
        print(f"| {m} | " + ' | '.join(cell(c) for c in columns) + ' |')
    comp = {m: r['compile']['warmup_s'] for m,r in rows.items() if 'compile' in r and 'warmup_s' in r['compile']}
    if comp: print("\ntorch.compile warm-up (compilation included), s: " + ', '.join(f"{m} {v:.0f}" for m,v in comp.items()))

def overhead(B=64, STEPS=12):
    "One SimCLR step through fastai Learner + SimCLR callback vs the same step in a plain PyTorch loop (resnet18 from timm, 32x32, SGD)"
    from self_supervised.vision.simclr import create_encoder, create_simclr_model, get_simclr_aug_pipelines, SimCLR
    from self_supervised.losses import NTXent
    def model(): torch.manual_seed(0); return create_simclr_model(create_encoder('resnet18', n_in=3, pool_type='avg'), 512, 128)
    x = (np.random.default_rng(0).random((B*STEPS+B, 3, 32, 32))*255).astype(np.uint8)
    augs = get_simclr_aug_pipelines(32, stats=None)
    dls = dls_from_arrays(x, x_valid=x[:B], bs=B, device='cpu')
    timer = StepTimer('cpu')
    learn = Learner(dls, model(), opt_func=SGD, lr=0.1, cbs=[SimCLR(augs, temp=0.1), timer, StepEnd()])
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    fastai_s = np.median(timer.ts[2:])
    m = model(); opt = torch.optim.SGD(m.parameters(), lr=0.1); lf = NTXent(0.1); ts = []
    for xb, in dls.train:
        t = time.perf_counter()
        xb = TensorImage(xb)
        z = m(torch.cat([augs[0](xb), augs[1](xb)]))
        loss = lf(*z.chunk(2)); loss.backward(); opt.step(); opt.zero_grad()
        ts.append(time.perf_counter()-t)
    plain_s = np.median(ts[2:])
    print(f"fastai Learner + SimCLR callback: {fastai_s:.3f} s/step ({B/fastai_s:.0f} images/s)")
    print(f"plain PyTorch loop:               {plain_s:.3f} s/step ({B/plain_s:.0f} images/s)")
    print(f"overhead of Learner+callback: {100*(fastai_s/plain_s-1):+.1f} %")

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--methods', default=None, help='comma-separated (default: every method)')
    p.add_argument('--columns', default=','.join(COLUMNS), help=f"comma-separated, of {', '.join(ALL_COLUMNS)}")
    p.add_argument('--device', default='cpu')
    p.add_argument('--steps', type=int, default=4)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=int(os.environ.get('OMP_NUM_THREADS', 2)))
    p.add_argument('--json', help="write the figures to this file")
    p.add_argument('--overhead', action='store_true', help="only the Learner's overhead over a plain loop (SimCLR, CPU)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.overhead: return overhead()
    methods,columns = (a.methods.split(',') if a.methods else list(_methods())),a.columns.split(',')
    bad = [c for c in columns if c not in ALL_COLUMNS]
    if bad: p.error(f"--columns: unknown {bad}; choose from {', '.join(ALL_COLUMNS)}")
    print(f"torch {torch.__version__}, device {a.device}" + (f" ({torch.cuda.get_device_name()})" if a.device.startswith('cuda') else f", {a.threads} threads")
          + f", {a.steps} timed steps after {a.warmup} warm-up steps", flush=True)
    rows = table(methods, columns, a.device, a.steps, a.warmup)
    print_table(rows, columns, cli.method_config(methods[0], device=a.device)['bs'])
    if a.json: open(a.json, 'w').write(json.dumps(dict(device=a.device, torch=torch.__version__, steps=a.steps, warmup=a.warmup, rows=rows), indent=1))

if __name__ == '__main__': main()
