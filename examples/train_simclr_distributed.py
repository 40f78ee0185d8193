"""SimCLR with several processes, the fastai way.

CPU (gloo):   torchrun --nproc_per_node=2 examples/train_simclr_distributed.py --epochs 1
GPUs (NCCL):  accelerate launch examples/train_simclr_distributed.py      (or torchrun --nproc_per_node=NGPUS ...)

Every process runs this script; `learn.distrib_ctx()` wraps the model in DDP and shards the data, and `DistributedSimCLR`
gathers every process's embeddings so that each view is contrasted with the whole global batch.
"""
import argparse, torch, torch.nn as nn
from fastai.learner import Learner
import fastai.callback.schedule, fastai.distributed  # noqa: fit_one_cycle, distrib_ctx
from self_supervised.vision.simclr import create_encoder, create_simclr_model, get_simclr_aug_pipelines, DistributedSimCLR
from self_supervised.data import load_fashion_mnist, dls_from_arrays
from self_supervised.dist import distrib_kwargs, get_rank, get_world_size

def main():
    p = argparse.ArgumentParser(); p.add_argument('--epochs', type=int, default=2); p.add_argument('--bs', type=int, default=128)
    p.add_argument('--n-train', type=int, default=2000); args = p.parse_args()
    torch.manual_seed(0)
    d = load_fashion_mnist()
    dev = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else 'cpu'
    dls = dls_from_arrays(d['x_train'][:args.n_train], d['y_train'][:args.n_train], bs=args.bs, device=dev)  # bs per process
    model = create_simclr_model(create_encoder('xresnet18', n_in=1), 512, 128, bn=True)
    augs = get_simclr_aug_pipelines(28, rotate=False, bw=False, blur=False, jitter_p=0.8, resize_scale=(0.5,1.), stats=([0.5],[0.5]))
    learn = Learner(dls, model, cbs=[DistributedSimCLR(augs, temp=0.2)])
    with learn.distrib_ctx(**distrib_kwargs()):
        learn.fit_one_cycle(args.epochs, 1e-2)
    if get_rank()==0:
        torch.save(learn.model.encoder.state_dict(), 'encoder_distributed.pth')
        print(f"trained on {get_world_size() if torch.distributed.is_initialized() else 'several'} processes; encoder saved to encoder_distributed.pth")

if __name__ == '__main__': main()
