#!/usr/bin/env bash
# The library on one CUDA GPU, in one prepared run of under 8 minutes (issue 27). Run from the repository root:
#
#     bash benchmarks/gpu_check.sh            # outputs under $OUT if set, else gpu_check_out/
#
# Parts, each timed, each with its own time limit (and all within a global deadline of 470 s), each going on when one fails:
#   1 env          the GPU, torch, CUDA, bf16 support, kornia
#   2 losses       every loss under CUDA autocast (fp16 and bf16), against float64 on the same embeddings; gradients finite
#   3 step         each method's training step at fp32, bf16 and fp16, channels_last (benchmarks/bench_step.py --device cuda)
#   4 augs         augmentation images/s at 32, 96 and 224 px on the GPU, ours against kornia's where installed
#   5 torchrun     torchrun --nproc_per_node 1 with NCCL: a gathered loss, then the example script and the command under torchrun
#   6 main         the default main job on CUDA (self_supervised pretrain --device cuda --precision bf16) and its table
#   7 tests        the fast test tier with CUDA visible (pytest -q tests -m "not slow"), with the time left
# The summary (part, status, seconds) is printed at the end and written to $OUT/summary.tsv.
set -u
set -x
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_check_out}"
mkdir -p "$OUT"
DEADLINE=${GPU_CHECK_DEADLINE:-470}
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python}
: > "$OUT/summary.tsv"

part() {   # part NAME LIMIT_S COMMAND...: runs COMMAND with output to $OUT/NAME.log, within LIMIT_S and the global deadline
  local name=$1 limit=$2; shift 2
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 10 ]; then echo -e "$name\tskipped (deadline)\t0" >> "$OUT/summary.tsv"; return 0; fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local status=ok
  [ $rc -ne 0 ] && status="failed rc=$rc"
  [ $rc -eq 124 ] && status="timed out after ${limit}s"
  echo -e "$name\t$status\t$((SECONDS - t0))" >> "$OUT/summary.tsv"
  set +x; echo "=== $name: $status ($((SECONDS - t0)) s); last lines of $OUT/$name.log:"; tail -n 40 "$OUT/$name.log"; set -x
  return 0
}

# 1 env
part env 60 bash -c "nvidia-smi; $PY -c \"
import torch, importlib.util as u
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())
if torch.cuda.is_available(): print(torch.cuda.get_device_name(), 'bf16', torch.cuda.is_bf16_supported(), 'nccl', torch.distributed.is_nccl_available())
print('kornia', 'installed' if u.find_spec('kornia') else 'not installed')
from self_supervised.precision import default_precision; print('default precision on cuda:', default_precision('cuda'))
\""

# 2 losses under CUDA autocast
cat > "$OUT/losses_cuda.py" <<'EOF'
import math, torch, torch.nn as nn, torch.nn.functional as F
from self_supervised.losses import *
dev = 'cuda'
def views(n, B=1024, D=128, norm=300., noise=0.5):
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(B, 32, generator=g, device=dev)
    xs = [x + noise*torch.randn(B, 32, generator=g, device=dev) for _ in range(n)]
    torch.manual_seed(0); lin = nn.Linear(32, D).to(dev)
    with torch.no_grad(): lin.weight.mul_(norm/lin(x).norm(dim=1).mean())
    return lin,xs
def moco(z):
    L = MoCoLoss(z[0].shape[1], K=2048, temperature=0.05).to(dev)
    if z[0].dtype==torch.float64: L.double()
    L.enqueue(z[2]); L.enqueue(z[3]); return L(z[0], z[1])
def dino(z):
    L = DINOLoss(z[0].shape[1], teacher_temp=0.05, student_temp=0.1).to(dev)
    L.update_center(torch.stack(z[:2])); return L(torch.stack(z), torch.stack(z[:2]))
y = torch.rand(1024, device=dev)
CASES = dict(ntxent=(lambda z: NTXent(0.05)(*z), 2, {}), dcl=(lambda z: NTXent(0.05, decoupled=True)(*z), 2, {}),
             yaware=(lambda z: YAwareInfoNCE(temperature=0.05)(*z, y), 2, {}), barlow_twins=(lambda z: BarlowTwinsLoss()(*z), 2, {}),
             vicreg=(lambda z: VICRegLoss()(*z), 2, {}), byol=(lambda z: BYOLLoss()(*z), 2, {}), moco=(moco, 4, {}), dino=(dino, 4, {}),
             swav=(lambda z: SwAVLoss(temperature=0.05)(z[:3], [z[3], z[4]]), 5, dict(D=100, norm=5.)))
bad = 0
for dt in (torch.float16, torch.bfloat16):
    for name,(f,n,kw) in CASES.items():
        try:
            lin,xs = views(n, **kw)
            with torch.autocast('cuda', dtype=dt):
                zs = [lin(x) for x in xs]
                loss = f(zs)
            loss.backward()
            ref = f([z.detach().double() for z in zs]).item()
            rel = abs(loss.item()-ref)/abs(ref)
            ok = zs[0].dtype==dt and loss.dtype==torch.float32 and rel<1e-3 and bool(torch.isfinite(lin.weight.grad).all())
            print(f"{str(dt):15} {name:13} loss {loss.item():.6g} float64 {ref:.6g} rel {rel:.1e} dtype {loss.dtype} grad finite {bool(torch.isfinite(lin.weight.grad).all())} {'ok' if ok else 'FAIL'}")
            bad += not ok
        except Exception as e: print(f"{str(dt):15} {name:13} ERROR {type(e).__name__}: {e}"); bad += 1
raise SystemExit(bad>0)
EOF
part losses 90 $PY "$OUT/losses_cuda.py"

# 3 each method's step at fp32, bf16, fp16
part step 150 $PY benchmarks/bench_step.py --device cuda --columns channels_last,bf16,fp16 --steps 8 --warmup 3 --json "$OUT/step_cuda.json"

# 4 augmentations on the GPU, ours against kornia
cat > "$OUT/augs_cuda.py" <<'EOF'
import time, torch, importlib.util
from fastai.torch_core import TensorImage
from self_supervised.augmentations import get_batch_augs
dev, bs = 'cuda', 256
mean,std = [0.485,0.456,0.406],[0.229,0.224,0.225]
def rate(f, reps=10):
    for _ in range(3): f()
    torch.cuda.synchronize(); ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); torch.cuda.synchronize(); ts.append(time.perf_counter()-t)
    return bs/sorted(ts)[len(ts)//2]
kornia = importlib.util.find_spec('kornia') is not None
print(f"batch {bs}, 3 channels, one view per image, SimCLR's augmentations (crop 0.08-1, flip, jitter p 0.8, grey p 0.2, blur p 0.5, normalise); kornia {'installed' if kornia else 'not installed'}")
for size in (32, 96, 224):
    x = TensorImage(torch.rand(bs, 3, size, size, device=dev))
    ours = get_batch_augs(size, rotate=False, jitter_p=0.8, bw_p=0.2, blur_p=0.5, resize_scale=(0.08,1.), stats=(mean,std))
    out = ours(x)
    line = f"{size:4d} px: ours {rate(lambda: ours(x)):9.0f} images/s (computes in {out.dtype})"
    if kornia:
        try:
            import kornia.augmentation as K
            k = max(3, size//10*2+1)
            kp = K.AugmentationSequential(K.RandomResizedCrop((size,size), scale=(0.08,1.)), K.RandomHorizontalFlip(), K.ColorJitter(0.4,0.4,0.4,0.1,p=0.8),
                                          K.RandomGrayscale(p=0.2), K.RandomGaussianBlur((k,k), (0.1,2.), p=0.5), K.Normalize(torch.tensor(mean), torch.tensor(std))).to(dev)
            xk = x.as_subclass(torch.Tensor)
            line += f", kornia {rate(lambda: kp(xk)):9.0f} images/s"
        except Exception as e: line += f", kornia ERROR {type(e).__name__}: {str(e)[:150]}"
    print(line, flush=True)
EOF
part augs 60 $PY "$OUT/augs_cuda.py"

# 5 torchrun with NCCL: a gathered loss under bf16 autocast, the example script, the command under torchrun
cat > "$OUT/nccl_check.py" <<'EOF'
import os, torch, torch.distributed as dist
from self_supervised.losses import NTXent
dist.init_process_group('nccl')
r = dist.get_rank(); torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
t = torch.ones(4, device='cuda'); dist.all_reduce(t)
z1,z2 = torch.randn(64, 128, device='cuda', requires_grad=True),torch.randn(64, 128, device='cuda', requires_grad=True)
with torch.autocast('cuda', dtype=torch.bfloat16): loss = NTXent(0.1, gather_distributed=True)(z1@torch.eye(128, device='cuda'), z2)
loss.backward()
print(f"rank {r}/{dist.get_world_size()} backend {dist.get_backend()} all_reduce {t.tolist()} gathered NT-Xent {loss.item():.4f} {loss.dtype} grad finite {bool(torch.isfinite(z1.grad).all())}")
dist.destroy_process_group()
EOF
part torchrun 90 bash -c "$PY -m torch.distributed.run --nproc_per_node 1 '$OUT/nccl_check.py' && \
  $PY -m torch.distributed.run --nproc_per_node 1 examples/train_simclr_distributed.py --epochs 1 --n-train 1024 && \
  $PY -m torch.distributed.run --nproc_per_node 1 -m self_supervised pretrain --device cuda --n-train 512 --epochs 1 --few-labels 0 --out '$OUT/run_torchrun'"

# 6 the default main job on CUDA, with its table
PREC=""
$PY -m self_supervised pretrain --help 2>/dev/null | grep -q -- '--precision' && PREC="--precision bf16"
part main 180 $PY -m self_supervised pretrain --device cuda $PREC --out "$OUT/run_main"

# 7 the fast test tier with CUDA visible, with the time left
part tests 240 $PY -m pytest -q tests -m "not slow" --durations=15 -p no:cacheprovider

set +x
echo "=== gpu_check: $SECONDS s in all; outputs in $OUT"
column -t -s $'\t' "$OUT/summary.tsv"
