"""The command line end to end on a few batches of the embedded data: by `main(argv)` in this process, and in subprocesses where
the process itself is what is tested (its output when not a terminal, exit status, stderr); each subprocess pays about 8 s of
imports on 2 cores. SIGKILL-and-resume and the command under torchrun are in the slow tier (`pytest -m slow`)."""
import json, os, shutil, signal, subprocess, sys, time, pytest, torch
import numpy as np, pandas as pd
from pathlib import Path
from PIL import Image

ENV = {**os.environ, 'OMP_NUM_THREADS': '2', 'MPLBACKEND': 'Agg', 'CUDA_VISIBLE_DEVICES': ''}
def cmd(*args): return [sys.executable, '-m', 'self_supervised', *map(str, args)]
def run(*args, timeout=600): return subprocess.run(cmd(*args), capture_output=True, text=True, timeout=timeout, env=ENV)

def _main(*args):
    "Exit status of `self_supervised.cli.main(args)` in this process (the imports paid once)"
    from self_supervised import cli
    try: cli.main([str(a) for a in args]); code = 0
    except SystemExit as e: code = e.code
    return code

TINY = ['--n-train', 256, '--n-test', 200, '--bs', 64, '--probe-every', 1, '--few-labels', 2]
QUICK = ['--n-train', 256, '--bs', 64, '--probe-every', 100, '--few-labels', 0]   # no probes during training, no few-label probe: where neither is tested

def _epochs(out): return pd.read_csv(out/'metrics.csv')['epoch'].astype(int).tolist()

def test_pretrain_resume_evaluate(tmp_path, capsys):
    out = tmp_path/'run'
    r = run('pretrain', *TINY, '--epochs', 1, '--out', out)
    assert r.returncode==0, r.stderr[-3000:]
    for f in ['encoder.pth','config.json','metrics.csv','metrics.json','loss.png','probe.png','augmentations.png','model_0.pth']: assert (out/f).exists(), f
    m = json.loads((out/'metrics.json').read_text())
    assert set(m['summary'])=={'pretrained','random init','raw pixels'}
    for row in m['summary'].values(): assert 0<row['knn_acc']<=1 and 0<row['few_acc']<=1 and row['few_sd']>=0
    assert 'few-label (2/class)' in r.stdout
    # not a terminal: one line per epoch, no progress-bar frames
    assert 'epoch 1/1  train_loss' in r.stdout and '\r' not in r.stdout
    line, = [l for l in r.stdout.splitlines() if l.startswith('epoch 1/1')]
    assert 'knn_acc' in line and 'linear_acc' in line and 'probe epoch=' not in r.stdout          # the probe's figures on the epoch's line
    assert _main('pretrain', '--resume', out, '--epochs', 2)==0                                  # in this process: main's argv, not sys.argv
    o = capsys.readouterr().out
    assert 'resuming run' in o and 'from epoch 1 of 2' in o
    assert _epochs(out)==[0,1] and json.loads((out/'metrics.json').read_text())['epochs_done']==2
    assert [h['epoch'] for h in json.loads((out/'metrics.json').read_text())['probe']]==[0,1]   # no probe of a skipped epoch
    assert sorted(f.name for f in out.glob('model_*.pth'))==['model_1.pth']                       # the older checkpoint is gone
    capsys.readouterr()
    assert _main('evaluate', out)==0
    o = capsys.readouterr().out
    assert 'pretrained' in o and 'raw pixels' in o and 'few-label' in o

def test_existing_out_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path/'run'
    assert _main('pretrain', *QUICK, '--epochs', 1, '--keep-checkpoints', 2, '--device', 'cpu', '--out', out)==0
    before = (out/'metrics.json').read_bytes()
    capsys.readouterr()
    assert _main('pretrain', *QUICK, '--epochs', 1, '--out', out)==2
    err = capsys.readouterr().err
    assert 'already holds files' in err and '--resume' in err and len(err.strip().splitlines())==1, err
    assert (out/'metrics.json').read_bytes()==before                                             # untouched
    (out/'notes.txt').write_text('not written by the run')                                   # --overwrite never deletes it (tests/test_cli_safety.py)
    assert _main('pretrain', *QUICK, '--epochs', 2, '--keep-checkpoints', 2, '--overwrite', '--device', 'cpu', '--out', out)==2
    assert 'notes.txt' in capsys.readouterr().err and (out/'metrics.json').read_bytes()==before
    (out/'notes.txt').unlink()
    assert _main('pretrain', *QUICK, '--epochs', 2, '--keep-checkpoints', 2, '--overwrite', '--device', 'cpu', '--out', out)==0
    assert _epochs(out)==[0,1]
    assert sorted(f.name for f in out.glob('model_*.pth'))==['model_0.pth','model_1.pth']
    (tmp_path/'notarun').mkdir(); (tmp_path/'notarun'/'precious.txt').write_text('x')
    capsys.readouterr()
    assert _main('pretrain', *QUICK, '--epochs', 1, '--overwrite', '--out', tmp_path/'notarun')==2
    assert 'not a run directory' in capsys.readouterr().err and (tmp_path/'notarun'/'precious.txt').exists()

@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    out = tmp_path/'run'
    p = subprocess.Popen(cmd('pretrain', *TINY, '--epochs', 3, '--out', out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    t = time.time()
    while not (out/'model_0.pth').exists() and p.poll() is None and time.time()-t<300: time.sleep(0.2)
    time.sleep(1)
    p.send_signal(signal.SIGKILL); p.wait()
    assert p.returncode==-signal.SIGKILL
    done = max(int(f.stem[6:]) for f in out.glob('model_*.pth'))
    assert done<2
    (out/f'model_{done+1}.pth.tmp').write_bytes(b'half a checkpoint')     # as if killed while writing the next one
    r = run('pretrain', '--resume', out)
    assert r.returncode==0, r.stderr[-3000:]
    assert f'from epoch {done+1} of 3' in r.stdout
    assert _epochs(out)==[0,1,2] and json.loads((out/'metrics.json').read_text())['epochs_done']==3
    assert not list(out.glob('*.tmp')) and sorted(f.name for f in out.glob('model_*.pth'))==['model_2.pth']
    assert sorted(f.name for f in out.glob('loop_*.pth'))==['loop_2_rank0.pth']              # removed with their checkpoints

@pytest.mark.parametrize('method', ['moco', 'dino'])
def test_resume_continues_exactly(method, tmp_path, capsys):
    "Resumed after its first epoch, a run ends with the same weights (teacher, queue, centre included) as the uninterrupted run (in this process)"
    a,b = tmp_path/'a',tmp_path/'b'
    assert _main('pretrain', '--method', method, *TINY, '--epochs', 2, '--keep-checkpoints', 2, '--device', 'cpu', '--out', a)==0
    b.mkdir()
    for f in ['config.json', 'metrics.json', 'model_0.pth', *[f.name for f in a.glob('loop_0*')]]: shutil.copy(a/f, b/f)   # as if killed after epoch 1
    capsys.readouterr()
    torch.manual_seed(1234); np.random.seed(1234)            # whatever state this process is left in, the resumed run restores its own
    assert _main('pretrain', '--resume', b)==0
    assert 'from epoch 1 of 2' in capsys.readouterr().out
    wa,wb = [torch.load(d/'model_1.pth', weights_only=False)['model'] for d in (a,b)]
    assert wa.keys()==wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"{len(differ)} of {len(wa)} tensors differ, e.g. {differ[:3]}"
    ma,mb = [json.loads((d/'metrics.json').read_text()) for d in (a,b)]
    assert [{k:v for k,v in r.items() if k!='time'} for r in ma['rows']]==[{k:v for k,v in r.items() if k!='time'} for r in mb['rows']]
    assert ma['probe']==mb['probe'] and ma['summary']==mb['summary']
    assert sorted(f.name for f in b.glob('loop_*'))==['loop_0_rank0.pth', 'loop_1_rank0.pth']   # one per checkpoint kept (2 here)

def _free_port():
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def torchrun(*args, n=2):
    env = {**ENV, 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={n}', '--master_addr=127.0.0.1', f'--master_port={_free_port()}',
                           '-m', 'self_supervised', *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)

@pytest.mark.slow
def test_pretrain_under_torchrun_resumes_exactly(tmp_path):
    "The command under torchrun (2 processes, gloo): probes, summary, one loop state per rank; resumed after epoch 1 it ends as the uninterrupted run"
    a,b = tmp_path/'a',tmp_path/'b'
    r = torchrun('pretrain', '--n-train', 256, '--bs', 32, '--probe-every', 1, '--few-labels', 1, '--epochs', 2, '--keep-checkpoints', 2, '--out', a)
    assert r.returncode==0, r.stderr[-3000:]
    lines = [l for l in r.stdout.splitlines() if l.startswith('epoch ')]
    assert len(lines)==2 and all('knn_acc' in l for l in lines) and 'raw pixels' in r.stdout      # printed by rank 0 only
    assert sorted(f.name for f in a.glob('loop_1_*'))==['loop_1_rank0.pth', 'loop_1_rank1.pth']
    b.mkdir()
    for f in ['config.json', 'metrics.json', 'model_0.pth', 'loop_0_rank0.pth', 'loop_0_rank1.pth']: shutil.copy(a/f, b/f)
    r = torchrun('pretrain', '--resume', b)
    assert r.returncode==0 and 'from epoch 1 of 2' in r.stdout, r.stderr[-3000:]
    wa,wb = [torch.load(d/'model_1.pth', weights_only=False)['model'] for d in (a,b)]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        (tmp_path/'imgs'/f'c{i%2}').mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((20,20,3))*255).astype(np.uint8)).save(tmp_path/'imgs'/f'c{i%2}'/f'{i}.png')
    (tmp_path/'imgs'/'c0'/'bad.png').write_bytes(b'broken')
    (tmp_path/'empty').mkdir()
    (tmp_path/'labels.csv').write_text('file,age,name\n' + ''.join(f'c{i%2}/{i}.png,{20+i},x{i}\n' for i in range(12)))
    (tmp_path/'header_only.csv').write_text('file,age\n')
    return tmp_path

ERRORS = [
    (['--method', 'byo'], "--method must be one of"),
    (['--arch', 'xresnet1'], "did you mean"),
    (['--data', 'no/such/dir'], "is not a folder"),
    (['--bs', 100000], "larger than the training set"),
    (['--bs', 0], "--bs must be >= 2"),
    (['--bs', 'many'], "invalid int value"),
    (['--lr', -1], "--lr must be a number > 0"),
    (['--lr', 'nan'], "--lr must be a number > 0"),
    (['--wd', -1e-4], "--wd must be a number > 0 (or 0)"),
    (['--wd', 'inf'], "--wd must be a number > 0 (or 0)"),
    (['--temp', 0], "--temp must be a number > 0"),
    (['--jitter-strength', -1], "--jitter-strength must be a number in [0, 2.5]"),
    (['--jitter-strength', 'nan'], "--jitter-strength must be a number in [0, 2.5]"),
    (['--jitter-strength', 3], "--jitter-strength must be a number in [0, 2.5]"),
    (['--device', 'tpu'], "--device must be cpu, cuda"),
    (['--size', 4], "--size must be >= 8"),
    (['--arch', 'vit_tiny_patch16_224', '--size', 28], "too small for, or does not fit"),
    (['--kernel', 'triangle', '--method', 'yaware'], "--kernel must be one of"),
    (['--bandwidth', 'wide', '--method', 'yaware'], "--bandwidth must be 'scott', 'silverman' or a number > 0"),
    (['--bandwidth', -2, '--method', 'yaware'], "--bandwidth must be"),
    (['--n-train', 0], "--n-train must be >= 1"),
    (['--n-train', -5], "--n-train must be >= 1"),
    (['--probe-every', 0], "--probe-every must be >= 1"),
    (['--keep-checkpoints', 0], "--keep-checkpoints must be >= 1"),
    (['--stem-stride', 3], "--stem-stride must be 1, 2 or 4"),
    (['--widen', 0.5, '--arch', 'resnet18'], "--widen applies to fastai"),
    (['--stem-width', 0], "--stem-width must be >= 1"),
    (['--stem-width', 16, '--arch', 'resnet18'], "--stem-width applies to fastai"),
    (['--decoupled', 2], "--decoupled must be 0 or 1"),
    (['--decoupled', 1, '--method', 'byol'], "--decoupled applies to simclr, not byol"),
    (['--no-such-option'], "unrecognized arguments"),
]
# the process-level contract (exit status 2, one line on stderr, no traceback) in subprocesses, for errors raised at each stage:
# argument parsing, validation, the device check (which needs CUDA hidden), building the model
IN_A_SUBPROCESS = [(['--no-such-option'], "unrecognized arguments"), (['--bs', 0], "--bs must be >= 2"),
                (['--device', 'cuda'], "no CUDA GPU is available"), (['--arch', 'vit_tiny_patch16_224', '--size', 28], "too small for, or does not fit")]

@pytest.mark.parametrize('args,msg', IN_A_SUBPROCESS)
def test_user_errors_in_a_subprocess(args, msg, tmp_path):
    r = run('pretrain', *args, '--epochs', 1, '--out', tmp_path/'run')
    assert r.returncode==2, r.stdout[-2000:] + r.stderr[-2000:]
    assert msg in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines())==1, r.stderr
    assert not (tmp_path/'run').exists()                                     # an error leaves no empty run directory behind

@pytest.mark.parametrize('args,msg', ERRORS)   # `--device cuda` without a GPU is in IN_A_SUBPROCESS: CUDA may be visible to this process
def test_user_errors(args, msg, tmp_path, capsys):
    "Every user error: one line on stderr, exit status 2, no run directory left; by `main(argv)` in this process"
    code = _main('pretrain', *args, '--epochs', 1, '--out', tmp_path/'run')
    err = capsys.readouterr().err
    assert code==2 and msg in err and len(err.strip().splitlines())==1, err
    assert not (tmp_path/'run').exists()

def test_folder_errors_and_run(folder, capsys):
    def error(*args):
        code = _main('pretrain', '--epochs', 1, '--out', folder/'failed', *args)
        err = capsys.readouterr().err
        assert code==2 and len(err.strip().splitlines())==1, err
        return err
    assert 'no image files' in error('--data', folder/'empty')
    assert "y column 'weight'" in error('--data', folder/'imgs', '--labels', folder/'labels.csv', '--y', 'weight', '--method', 'yaware')
    assert "must be numeric" in error('--data', folder/'imgs', '--labels', folder/'labels.csv', '--y', 'name', '--method', 'yaware')
    assert "header but no rows" in error('--data', folder/'imgs', '--labels', folder/'header_only.csv', '--y', 'age', '--method', 'yaware')
    assert not (folder/'failed').exists()
    assert _main('pretrain', '--data', folder/'imgs', '--size', 32, '--bs', 4, '--epochs', 1, '--arch', 'resnet18', '--device', 'cpu', '--out', folder/'run')==0
    assert 'skipped 1 unreadable' in capsys.readouterr().out and (folder/'run'/'encoder.pth').exists()
