"""Contrastive loss forward+backward on CPU (dim 128): time and peak extra memory, each configuration in a fresh process.

NT-Xent: ours vs plain autograd (diagonal masked with masked_fill + cross-entropy).
y-Aware: ours vs the same formula with the weights computed in numpy with sklearn pairwise distances (the common way).

    python benchmarks/bench_losses.py
"""
import subprocess, sys, json

CODE = r'''
import sys, time, json, math, resource, torch, numpy as np, torch.nn.functional as F
torch.set_num_threads(2)
impl, B = sys.argv[1], int(sys.argv[2])
from self_supervised.losses import NTXent, YAwareInfoNCE
def masked(z1, z2, t=0.1):
    z = F.normalize(torch.cat([z1,z2]), dim=1); b = len(z1)
    s = (z@z.T/t).masked_fill(torch.eye(2*b, dtype=bool), -math.inf)
    return F.cross_entropy(s, torch.arange(2*b).roll(b))
def yaware_np(z1, z2, y, t=0.1, bw=1.0):
    from sklearn.metrics import pairwise_distances
    yy = np.concatenate([y, y])[:,None]
    w = np.exp(-pairwise_distances(yy/np.sqrt(bw))**2/2); np.fill_diagonal(w, 0); w /= w.sum(1, keepdims=True)
    w = torch.from_numpy(w).float()
    z = F.normalize(torch.cat([z1,z2]), dim=1)
    s = (z@z.T/t).masked_fill(torch.eye(2*len(z1), dtype=bool), -math.inf)
    return -(w*s.log_softmax(1).nan_to_num(neginf=0)).sum(1).mean()
g = torch.Generator().manual_seed(0)
z1, z2 = torch.randn(B,128,generator=g,requires_grad=True), torch.randn(B,128,generator=g,requires_grad=True)
y = np.random.default_rng(0).normal(size=B).astype(np.float32)
f = dict(ours_ntxent=lambda: NTXent(0.1)(z1,z2), masked_fill=lambda: masked(z1,z2),
         ours_yaware=lambda: YAwareInfoNCE('gaussian', 1.0, 0.1)(z1,z2,torch.from_numpy(y)), numpy_sklearn_yaware=lambda: yaware_np(z1,z2,y))[impl]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
f().backward()
peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)/1024
ts = []
for _ in range(7 if B<4096 else 3):
    t = time.perf_counter(); f().backward(); ts.append(time.perf_counter()-t)
print(json.dumps(dict(ms=sorted(ts)[len(ts)//2]*1000, mib=peak)))
'''

def measure(impl, B):
    r = subprocess.run([sys.executable, '-c', CODE, impl, str(B)], capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])

def main():
    for pair in [('ours_ntxent','masked_fill'), ('ours_yaware','numpy_sklearn_yaware')]:
        print(f"\n{pair[0]} vs {pair[1]}")
        for B in (256, 1024, 4096):
            a,b = measure(pair[0], B),measure(pair[1], B)
            print(f"  B={B:5}  ours {a['ms']:8.1f} ms {a['mib']:7.0f} MiB   {pair[1]} {b['ms']:8.1f} ms {b['mib']:7.0f} MiB   speed-up {b['ms']/a['ms']:.2f}x")

if __name__ == '__main__': main()
