"""The command never deletes a user's files, never resumes what it cannot, and never trains silently on the wrong data or through a
divergence (issue "Never delete, corrupt or silently mistrain"): each case by `main(argv)` in this process, the files checked after."""
import json, os, pytest, torch
import numpy as np, pandas as pd
from pathlib import Path
from PIL import Image
from self_supervised import cli

TINY = ['--n-train', 128, '--n-test', 200, '--bs', 64, '--probe-every', 5, '--few-labels', 0, '--device', 'cpu']

def main(*args):
    "Exit status of `cli.main(args)`"
    try: cli.main([str(a) for a in args]); return 0
    except SystemExit as e: return e.code

def err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines())==1, err
    return err

def snapshot(d): return {str(p.relative_to(d)): p.read_bytes() for p in sorted(Path(d).rglob('*')) if p.is_file() and not p.is_symlink()}

def images(d, n=12, size=16, mode='L', classes=None):
    d = Path(d); rng = np.random.default_rng(0)
    for i in range(n):
        sub = d/classes[i%len(classes)] if classes else d
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size,size), dtype=np.uint8), mode).save(sub/f'img{i:02d}.png')
    return d

@pytest.fixture(scope='module')
def done_run(tmp_path_factory):
    "A finished tiny run (1 epoch) to copy from"
    out = tmp_path_factory.mktemp('runs')/'run'
    assert main('pretrain', *TINY, '--epochs', 1, '--out', out)==0
    return out

def copy_run(src, dst):
    dst.mkdir(parents=True)
    for f in src.iterdir(): (dst/f.name).write_bytes(f.read_bytes())
    return dst

def test_overwrite_never_deletes_a_project_folder(tmp_path, capsys, monkeypatch):
    proj = tmp_path/'proj'; images(proj/'data'); (proj/'config.json').write_text('{"model_type": "bert"}'); (proj/'notes.txt').write_text('mine')
    before = snapshot(proj)
    monkeypatch.chdir(proj)
    assert main('pretrain', '--data', 'data', '--out', '.', '--overwrite', '--epochs', 1)==2
    assert 'holds the data' in err_line(capsys) and snapshot(proj)==before
    assert main('pretrain', '--data', 'dta', '--out', '.', '--overwrite', '--epochs', 1)==2          # a typo in --data
    assert '--data' in err_line(capsys) and snapshot(proj)==before
    (proj/'other').mkdir(); monkeypatch.chdir(proj/'other')
    assert main('pretrain', '--data', '../data', '--out', '..', '--overwrite', '--epochs', 1)==2      # a folder above the data
    assert 'holds the data' in err_line(capsys) and snapshot(proj)==before

def test_overwrite_removes_only_what_a_run_wrote(done_run, tmp_path, capsys):
    run = copy_run(done_run, tmp_path/'run')
    assert main('pretrain', '--data', tmp_path/'typo', '--out', run, '--overwrite')==2                  # checked before anything changes
    assert '--data' in err_line(capsys) and snapshot(run)==snapshot(done_run)
    (run/'my_notes.txt').write_text('keep me')
    outside = tmp_path/'precious'; outside.mkdir(); (outside/'a.txt').write_text('a'); (run/'link').symlink_to(outside)
    before = snapshot(run)
    assert main('pretrain', *TINY, '--epochs', 1, '--out', run, '--overwrite')==2
    err = err_line(capsys)
    assert 'not deleting' in err and 'my_notes.txt' in err and snapshot(run)==before and (outside/'a.txt').exists()
    (run/'my_notes.txt').unlink(); (run/'link').unlink()
    assert main('pretrain', *TINY, '--epochs', 1, '--out', run, '--overwrite', '--seed', 1)==0
    assert json.loads((run/'config.json').read_text())['seed']==1 and set(json.loads((run/'manifest.json').read_text())['files'])>={'encoder.pth','config.json'}

def test_out_that_cannot_be_a_run(tmp_path, capsys):
    (tmp_path/'file').write_text('x')
    assert main('pretrain', *TINY, '--out', tmp_path/'file')==2 and 'is a file' in err_line(capsys)
    assert main('pretrain', *TINY, '--out', '/sys/fs/self_supervised_run')==2 and 'cannot write' in err_line(capsys)
    assert not Path('/sys/fs/self_supervised_run').exists()

def test_resume_refuses_what_it_cannot_resume(done_run, tmp_path, capsys):
    run = copy_run(done_run, tmp_path/'run')
    for f in run.glob('model_*.pth'): f.unlink()
    before = snapshot(run)
    assert main('pretrain', '--resume', run, '--epochs', 4)==2
    assert 'no checkpoint' in err_line(capsys) and snapshot(run)==before
    run = copy_run(done_run, tmp_path/'run2'); before = snapshot(run)
    for opt in [('--lr', -1), ('--method', 'nonsense'), ('--bs', 5000), ('--data', '/x')]:
        assert main('pretrain', '--resume', run, '--epochs', 2, *opt)==2, opt
        err = err_line(capsys)
        assert opt[0] in err and 'differs' in err, err
    assert main('pretrain', '--resume', run, '--epochs', 0)==2 and '--epochs' in err_line(capsys)
    assert main('pretrain', '--resume', run)==2 and 'all its 1 epochs' in err_line(capsys)
    assert snapshot(run)==before
    assert main('pretrain', '--resume', run, '--epochs', 2, '--keep-checkpoints', 2)==0
    out = capsys.readouterr().out
    assert f'resuming run {run} from epoch 1 of 2' in out and '--epochs 2 (the run had 1)' in out
    assert pd.read_csv(run/'metrics.csv')['epoch'].tolist()==[0,1]

def test_last_batch_of_one(tmp_path, capsys):
    "60 training images in batches of 3, 100 held out (100 mod 3 = 1): no batch of one image anywhere"
    assert main('pretrain', '--n-train', 60, '--n-test', 100, '--bs', 3, '--epochs', 1, '--probe-every', 5, '--few-labels', 0, '--device', 'cpu', '--out', tmp_path/'r')==0
    assert json.loads((tmp_path/'r'/'metrics.json').read_text())['epochs_done']==1

def test_folder_data_is_described_and_never_includes_runs(tmp_path, capsys, monkeypatch):
    data = images(tmp_path/'imgs', n=24, classes=['a','b'])
    (data/'a'/'up').symlink_to('..')                                    # a symlink loop
    monkeypatch.chdir(data)
    args = ['pretrain', '--data', '.', '--size', 16, '--bs', 4, '--epochs', 1, '--probe-every', 5, '--few-labels', 0, '--device', 'cpu']
    assert main(*args, '--out', 'runs/one')==0
    line, = [l for l in capsys.readouterr().out.splitlines() if l.startswith('data:')]
    assert '24' in line, line
    assert main(*args, '--out', 'runs/two')==0                          # the first run's pngs are not images to train on
    line2, = [l for l in capsys.readouterr().out.splitlines() if l.startswith('data:')]
    assert line2==line
    cfg = json.loads((data/'runs'/'one'/'config.json').read_text())
    assert Path(cfg['data']).is_absolute() and Path(cfg['out']).is_absolute()

def test_inputs_that_do_not_fit(tmp_path, capsys):
    data = images(tmp_path/'imgs', n=16)
    for args,msg in [(['--labels', tmp_path/'nope.csv'], '--labels applies to a --data folder'),
                     (['--y', 'area'], '--y applies'),
                     (['--data', data, '--n-in', 4], '--n-in must be 1'),
                     (['--data', data, '--full'], '--full applies'),
                     (['--data', data, '--labels', tmp_path/'nope.csv', '--y', 'age'], 'is not a file'),
                     (['--method', 'byol', '--temp', 0.1], '--temp applies to'),
                     (['--precision', 'fp8'], '--precision')]:
        assert main('pretrain', *TINY, '--out', tmp_path/'never', *args)==2, args
        assert msg in err_line(capsys), (args, msg)
        assert not (tmp_path/'never').exists()
    pd.DataFrame({'file': [f'img{i:02d}.png' for i in range(16)], 'age': [3.0]*16}).to_csv(tmp_path/'const.csv', index=False)
    assert main('pretrain', '--data', data, '--labels', tmp_path/'const.csv', '--y', 'age', '--method', 'yaware', '--size', 16, '--bs', 4,
                '--device', 'cpu', '--out', tmp_path/'never')==2
    assert 'constant' in err_line(capsys) and not (tmp_path/'never').exists()
    pd.DataFrame({'file': ['img00.png', 'img00.png'], 'age': [1., 2.]}).to_csv(tmp_path/'dup.csv', index=False)
    assert main('pretrain', '--data', data, '--labels', tmp_path/'dup.csv', '--y', 'age', '--size', 16, '--bs', 4, '--out', tmp_path/'never')==2
    assert 'img00.png' in err_line(capsys)

def test_divergence_stops_with_one_line(tmp_path, capsys):
    out = tmp_path/'run'
    assert main('pretrain', '--n-train', 256, '--n-test', 200, '--bs', 64, '--lr', 50, '--epochs', 3, '--probe-every', 5, '--few-labels', 0, '--device', 'cpu', '--out', out)==2
    err = err_line(capsys)
    assert 'diverged' in err and '--lr 50' in err, err
    m = json.loads((out/'metrics.json').read_text()) if (out/'metrics.json').exists() else dict(epochs_done=0)
    assert m['epochs_done']<3 and 'summary' not in m

def test_evaluate_errors_and_other_working_directory(done_run, tmp_path, capsys, monkeypatch):
    assert main('evaluate', done_run, '--few-labels', -1)==2 and '--few-labels' in err_line(capsys)
    monkeypatch.chdir(tmp_path)
    assert main('evaluate', done_run, '--few-labels', 0)==0 and 'raw pixels' in capsys.readouterr().out

def test_every_option_has_help():
    p = cli._parser()
    subs = next(a for a in p._actions if a.dest=='cmd').choices
    for name,sp in subs.items():
        for a in sp._actions:
            if a.dest!='help': assert a.help, (name, a.dest)
    assert '{' not in subs['pretrain'].format_help()
