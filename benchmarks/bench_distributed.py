"""SimCLR step time at world size 1 and 2 on CPU (gloo), same per-process batch, through fastai's Learner + DistributedSimCLR.

    python benchmarks/bench_distributed.py
On a GPU machine with N GPUs the same worker runs with NCCL: torchrun --nproc_per_node=N benchmarks/bench_distributed.py --worker
"""
import os, sys, time, subprocess, json, socket

def worker():
    import torch, numpy as np
    from fastai.learner import Learner
    from fastai.callback.core import Callback
    import fastai.distributed  # noqa
    from self_supervised.vision.simclr import create_encoder, create_simclr_model, get_simclr_aug_pipelines, DistributedSimCLR
    from self_supervised.data import dls_from_arrays
    from self_supervised.dist import distrib_kwargs, get_rank
    class T(Callback):
        order = 100
        def before_fit(self): self.ts = []
        def before_batch(self): self.t = time.perf_counter()
        def after_step(self): self.ts.append(time.perf_counter()-self.t)
    bs = 64; ws = int(os.environ.get('WORLD_SIZE', 1))
    x = (np.random.default_rng(0).random((bs*ws*8+bs, 1, 28, 28))*255).astype(np.uint8)
    dev = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else 'cpu'
    dls = dls_from_arrays(x, x_valid=x[:bs*ws], bs=bs, device=dev)
    t = T()
    learn = Learner(dls, create_simclr_model(create_encoder('xresnet18', n_in=1), 512, 128), cbs=[DistributedSimCLR(get_simclr_aug_pipelines(28, stats=None)), t])
    with learn.no_bar(), learn.no_logging(), learn.distrib_ctx(**distrib_kwargs()): learn.fit(1)
    if get_rank()==0: print(json.dumps(dict(ws=ws, s_per_step=sorted(t.ts[2:])[len(t.ts[2:])//2], per_process_bs=bs)))

def main():
    res = []
    for ws in (1, 2):
        with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
        env = {**os.environ, 'OMP_NUM_THREADS': str(2//ws)}
        r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={ws}', f'--master_port={port}', __file__, '--worker'],
                           capture_output=True, text=True, env=env)
        res.append(json.loads([l for l in r.stdout.splitlines() if l.startswith('{')][-1]))
    for r in res: print(f"world size {r['ws']}: {r['s_per_step']:.3f} s/step, {r['ws']*r['per_process_bs']/r['s_per_step']:.0f} images/s (global batch {r['ws']*r['per_process_bs']})")
    print(f"throughput ratio ws2/ws1: {(2/res[1]['s_per_step'])/(1/res[0]['s_per_step']):.2f}x (2 cores in all, so at most ~1x on this machine)")

if __name__ == '__main__':
    worker() if '--worker' in sys.argv else main()
