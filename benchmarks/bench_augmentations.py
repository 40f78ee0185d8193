"""SimCLR augmentation throughput on CPU (source images/s, two views each), ours vs fastai's batch transforms vs per-image torchvision v2.

    python benchmarks/bench_augmentations.py
"""
import time, torch
from fastai.torch_core import TensorImage
from fasttransform import Pipeline
from fastai.vision.augment import aug_transforms, RandomResizedCropGPU
from self_supervised.augmentations import get_batch_augs
import torchvision.transforms.v2 as T
torch.set_num_threads(2)

def median_time(f, reps=5):
    f(); ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return sorted(ts)[len(ts)//2]

def main(bs=256):
    for size in (32, 96):
        x = TensorImage(torch.rand(bs, 3, size, size))
        ours = [get_batch_augs(size, rotate=False, jitter_p=0.8, bw_p=0.2, blur_p=0.5, resize_scale=(0.08,1.)) for _ in range(2)]
        fa = [Pipeline([RandomResizedCropGPU(size, min_scale=0.08)] + aug_transforms(size=None, max_rotate=0, max_warp=0, max_lighting=0.4, p_lighting=0.8), split_idx=0) for _ in range(2)]
        tv = T.Compose([T.RandomResizedCrop(size, antialias=True), T.RandomHorizontalFlip(), T.RandomApply([T.ColorJitter(.4,.4,.4,.1)], p=.8),
                        T.RandomGrayscale(.2), T.RandomApply([T.GaussianBlur(max(3, size//10*2+1), (0.1,2.))], p=.5),
                        T.Normalize([0.485,0.456,0.406],[0.229,0.224,0.225])])
        res = {'self_supervised get_batch_augs': median_time(lambda: [p(x) for p in ours]),
               'fastai aug_transforms (batch)': median_time(lambda: [p(x) for p in fa]),
               'torchvision v2, per image': median_time(lambda: [torch.stack([tv(im) for im in x.as_subclass(torch.Tensor)]) for _ in range(2)], reps=3)}
        base = res['self_supervised get_batch_augs']
        print(f"\n{size}x{size}, batch {bs}, 3 channels")
        for k,v in res.items(): print(f"  {k:34} {bs/v:8.0f} images/s   ours is {v/base:5.2f}x faster")

if __name__ == '__main__': main()
