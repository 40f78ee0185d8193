"""Fixtures shared by the test files: one tiny pretraining run of the embedded data, made once per session, for the commands
that read a run directory (evaluate, export, finetune, inspect). Tests copy it (`shutil.copytree`) before writing into it."""
import pytest

@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
    "A finished run directory: SimCLR, 1 epoch on 256 embedded images, 128 held out, probed once"
    from self_supervised import cli
    out = tmp_path_factory.mktemp('tiny')/'run'
    cli.main(['pretrain', '--n-train', '256', '--n-test', '128', '--epochs', '1', '--bs', '64', '--probe-every', '1',
              '--few-labels', '0', '--device', 'cpu', '--out', str(out)])
    return out

def pytest_collection_modifyitems(items):
    "The longest file first (the docs site's build), so that with `-n 2 --dist loadfile` (CI's slow tier) the other worker runs the rest beside it"
    items.sort(key=lambda it: 'test_docs_site' not in it.nodeid)
