"""Cost of one momentum-teacher update (EMA of every parameter) for a ResNet-18: the fused multi-tensor update of
`self_supervised.momentum.ema_update_` (one torch._foreach_lerp_) against a Python loop over parameters (mul_ + add_ per tensor,
what a user would write) and against torch._foreach_mul_ + _foreach_add_ (two fused passes, this library until 2026-12-01).

    python benchmarks/bench_ema.py [--reps 50] [--device cpu|cuda]
"""
import argparse, copy, time, statistics, torch
from self_supervised.layers import create_encoder
from self_supervised.momentum import ema_update_, momentum_copy

@torch.no_grad()
def loop_update(teacher, student, m):
    "Reference: one in-place update per parameter"
    for t,s in zip(teacher.parameters(), student.parameters()): t.mul_(m).add_(s, alpha=1-m)

@torch.no_grad()
def two_pass_update(teacher, student, m):
    "Two fused passes: multiply every teacher tensor, then add the student's"
    ts,ss = list(teacher.parameters()),list(student.parameters())
    torch._foreach_mul_(ts, m); torch._foreach_add_(ts, ss, alpha=1-m)

def bench(f, reps, sync):
    times = []
    for _ in range(reps+3):
        sync(); t = time.perf_counter(); f(); sync(); times.append(time.perf_counter()-t)
    return statistics.median(times[3:])*1e3

def main():
    p = argparse.ArgumentParser(); p.add_argument('--reps', type=int, default=50)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu'); a = p.parse_args()
    student = create_encoder('resnet18', n_in=3).to(a.device)
    teacher = momentum_copy(student)
    sync = torch.cuda.synchronize if a.device.startswith('cuda') else (lambda: None)
    n,numel = len(list(student.parameters())),sum(p.numel() for p in student.parameters())
    fused = bench(lambda: ema_update_(teacher, student, 0.996), a.reps, sync)
    loop = bench(lambda: loop_update(teacher, student, 0.996), a.reps, sync)
    two = bench(lambda: two_pass_update(teacher, student, 0.996), a.reps, sync)
    t2 = copy.deepcopy(teacher); ema_update_(t2, student, 0.996); t3 = copy.deepcopy(teacher); loop_update(t3, student, 0.996)
    assert all(torch.allclose(x, y) for x,y in zip(t2.parameters(), t3.parameters()))
    print(f"EMA update of resnet18 ({n} tensors, {numel/1e6:.1f}M parameters) on {a.device}, {torch.get_num_threads()} threads, median of {a.reps}:")
    print(f"  fused _foreach_lerp_ (ours):   {fused:7.3f} ms/step")
    print(f"  per-parameter loop:            {loop:7.3f} ms/step   ({loop/fused:.2f}x the fused time)")
    print(f"  _foreach_mul_ + _foreach_add_: {two:7.3f} ms/step   ({two/fused:.2f}x the fused time)")

if __name__ == '__main__': main()
