"""One SimCLR training step through fastai Learner + SimCLR callback vs the same step in a plain PyTorch loop (same model, data, augmentations).

resnet18 (timm, no classifier) + projector (512, 512, 128), B=64 at 32x32, SGD, CPU.

    python benchmarks/bench_step.py
"""
import time, torch, numpy as np
from fastai.learner import Learner
from fastai.optimizer import SGD
from fastai.callback.core import Callback, CancelFitException
from self_supervised.vision.simclr import create_encoder, create_simclr_model, get_simclr_aug_pipelines, SimCLR
from self_supervised.losses import NTXent
from self_supervised.data import dls_from_arrays
from fastai.torch_core import TensorImage
torch.set_num_threads(2)

B, STEPS = 64, 12
def model(): torch.manual_seed(0); return create_simclr_model(create_encoder('resnet18', n_in=3, pool_type='avg'), 512, 128)

class Timer(Callback):
    order = 100
    def before_fit(self): self.ts = []
    def before_batch(self): self.t = time.perf_counter()
    def after_step(self): self.ts.append(time.perf_counter()-self.t)

def main():
    x = (np.random.default_rng(0).random((B*STEPS+B, 3, 32, 32))*255).astype(np.uint8)
    augs = get_simclr_aug_pipelines(32, stats=None)
    dls = dls_from_arrays(x, x_valid=x[:B], bs=B, device='cpu')
    timer = Timer()
    learn = Learner(dls, model(), opt_func=SGD, lr=0.1, cbs=[SimCLR(augs, temp=0.1), timer])
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

if __name__ == '__main__': main()
