"""Barlow Twins and VICReg loss, forward+backward at N=256, D in {2048, 8192}: ours vs lightly's, median time and peak memory.

Each (implementation, D) runs in a fresh process; peak memory is the rise of the process's maximum resident set (CPU) or
`torch.cuda.max_memory_allocated` above the inputs (CUDA). lightly is not a dependency: install it in a separate environment
that sees this project, e.g.

    python -m venv /tmp/lightly-venv --system-site-packages
    /tmp/lightly-venv/bin/pip install -c constraints.txt lightly
    OMP_NUM_THREADS=1 /tmp/lightly-venv/bin/python benchmarks/bench_redundancy_losses.py [--device cuda] [--threads 1]

Without lightly the script times ours alone and says so.
"""
import argparse, subprocess, sys, json

CODE = r'''
import sys, time, json, resource, torch
impl, loss, N, D, device, threads, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
torch.set_num_threads(threads)
if impl=='ours':
    from self_supervised.losses import BarlowTwinsLoss, VICRegLoss
    f = BarlowTwinsLoss(5e-3) if loss=='barlow_twins' else VICRegLoss(25., 25., 1.)
else:
    from lightly.loss import BarlowTwinsLoss, VICRegLoss
    f = BarlowTwinsLoss(5e-3) if loss=='barlow_twins' else VICRegLoss(25., 25., 1.)
g = torch.Generator().manual_seed(0)
z1 = torch.randn(N, D, generator=g).to(device).requires_grad_()
z2 = (torch.randn(N, D, generator=g)*0.5+z1.detach()).requires_grad_()
cuda = device.startswith('cuda')
def step():
    z1.grad = z2.grad = None
    l = f(z1, z2); l.backward(); return l
def sync():
    if cuda: torch.cuda.synchronize()
if cuda: torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
else: base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
value = step().item(); sync()
peak = (torch.cuda.max_memory_allocated()-base)/2**20 if cuda else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss-base)/1024
ts = []
for _ in range(reps):
    sync(); t = time.perf_counter(); step(); sync(); ts.append(time.perf_counter()-t)
print(json.dumps(dict(ms=sorted(ts)[len(ts)//2]*1000, mib=peak, value=value, grad=z1.grad.norm().item())))
'''

def measure(impl, loss, N, D, a):
    r = subprocess.run([sys.executable, '-c', CODE, impl, loss, str(N), str(D), a.device, str(a.threads), str(a.reps)], capture_output=True, text=True)
    if r.returncode: raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cpu'); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--reps', type=int, default=5); p.add_argument('--N', type=int, default=256)
    p.add_argument('--D', type=int, nargs='+', default=[2048, 8192])
    a = p.parse_args()
    try: import lightly; has_lightly = True; print(f"lightly {lightly.__version__}")
    except ImportError: has_lightly = False; print("lightly is not installed: timing ours alone (see the docstring to install it in its own venv)")
    import torch; print(f"torch {torch.__version__}, device {a.device}, {a.threads} thread(s), N={a.N}, median of {a.reps}")
    for loss in ('barlow_twins', 'vicreg'):
        print(f"\n{loss}")
        for D in a.D:
            o = measure('ours', loss, a.N, D, a)
            line = f"  D={D:5}  ours {o['ms']:8.1f} ms {o['mib']:7.0f} MiB"
            if has_lightly:
                l = measure('lightly', loss, a.N, D, a)
                line += (f"   lightly {l['ms']:8.1f} ms {l['mib']:7.0f} MiB   speed-up {l['ms']/o['ms']:5.1f}x"
                         f"   |loss diff| {abs(o['value']-l['value'])/abs(l['value']):.1e} rel, |grad| {o['grad']:.4g} vs {l['grad']:.4g}")
            print(line)

if __name__ == '__main__': main()
