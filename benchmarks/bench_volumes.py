"""3D throughput on CPU at B=8, 1x64x64x64: augmentation (two views) and one SimCLR training step with resnet3d_18.

    python benchmarks/bench_volumes.py
"""
import time, torch
from fastai.torch_core import TensorImage
from self_supervised.volumes import get_multi_volume_augs
from self_supervised.layers import create_encoder
from self_supervised.vision.simclr import create_simclr_model
from self_supervised.losses import NTXent
torch.set_num_threads(2)

def median(f, reps=5):
    f(); ts = []
    for _ in range(reps): t = time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return sorted(ts)[len(ts)//2]

def main(B=8, S=64):
    x = TensorImage(torch.rand(B, 1, S, S, S))
    augs = get_multi_volume_augs(2, S)
    ta = median(lambda: [a(x) for a in augs])
    print(f"volume augmentation (2 views, all transforms): {ta*1000:.0f} ms/batch, {B/ta:.1f} volumes/s")
    m = create_simclr_model(create_encoder('resnet3d_18', n_in=1, pool_type='avg'), 512, 128)
    opt,lf = torch.optim.SGD(m.parameters(), lr=0.01),NTXent(0.1)
    def step():
        z = m(torch.cat([a(x) for a in augs]).as_subclass(torch.Tensor)); lf(*z.chunk(2)).backward(); opt.step(); opt.zero_grad()
    ts = median(step, reps=3)
    print(f"SimCLR step, resnet3d_18, augmentation included: {ts:.2f} s/step, {B/ts:.1f} volumes/s (augmentation {100*ta/ts:.0f} % of it)")

if __name__ == '__main__': main()
