"Code written for the original fastai `self_supervised` library (its SimCLR documentation) runs unchanged."
import warnings
import numpy as np, pytest, torch
import matplotlib
matplotlib.use('Agg')
from PIL import Image

# The original library's SimCLR page, as written, with `path` a local image folder in place of `untar_data(URLs.MNIST_TINY)`
IMPORTS = """
from fastai.vision.all import *
from self_supervised.augmentations import *
from self_supervised.layers import *
from self_supervised.vision.simclr import *
"""
DLS = """
items = get_image_files(path)
tds = Datasets(items, [{img}.create, [parent_label, Categorize()]], splits=GrandparentSplitter()(items))
dls = tds.dataloaders(bs=5, after_item=[ToTensor(), IntToFloatTensor()], device='cpu')
"""
TIMM = """
aug_pipelines = get_simclr_aug_pipelines(size=28, rotate=False, jitter=False, bw=False, blur=False, stats=None, cuda=False)
encoder = create_encoder("tf_efficientnet_b0_ns", n_in=3, pretrained=False, pool_type=PoolingType.CatAvgMax)
model = create_simclr_model(encoder, hidden_size=2048, projection_size=128)
learn = Learner(dls, model, cbs=[SimCLR(aug_pipelines, temp=0.07, print_augs=True), ShortEpochCallback(0.001)])
b = dls.one_batch(); learn._split(b); learn('before_batch'); axes = learn.sim_clr.show(n=5)
learn.fit(1)
"""
FASTAI = """
fastai_encoder = create_encoder('xresnet18', n_in=1, pretrained=False)
model = create_simclr_model(fastai_encoder, hidden_size=2048, projection_size=128)
aug_pipelines = get_simclr_aug_pipelines(size=28, rotate=False, jitter=False, bw=False, blur=False, stats=None, cuda=False)
learn = Learner(dls, model, cbs=[SimCLR(aug_pipelines, temp=0.07, print_augs=True),ShortEpochCallback(0.001)])
b = dls.one_batch()
learn._split(b)
learn('before_batch')
axes = learn.sim_clr.show(n=5)
learn.fit(1)
"""

def _image_folder(path, n_per_class=6, size=28, mode='RGB'):
    "MNIST_TINY-like folder: {train,valid}/{3,7}/*.png"
    rng = np.random.default_rng(0)
    for split in ('train', 'valid'):
        for i,lbl in enumerate(('3', '7')):
            d = path/split/lbl; d.mkdir(parents=True)
            for k in range(n_per_class):
                a = (rng.random((size, size, 3))*80).astype(np.uint8)
                a[4+i*8:14+i*8, 6:22] = 255                       # a class-dependent bright bar
                Image.fromarray(a).convert(mode).save(d/f'{k}.png')
    return path

def _run(*parts, **ns):
    torch.manual_seed(0)
    ns = dict(ns)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')       # timm warns that `tf_efficientnet_b0_ns` is deprecated and maps it to its new name
        for code in parts: exec(compile(code, 'original_docs_snippet', 'exec'), ns)
    return ns

def test_original_simclr_snippet_timm(tmp_path):
    ns = _run(IMPORTS, DLS.format(img='PILImage'), TIMM, path=_image_folder(tmp_path))
    assert ns['axes'] is not None and ns['model'].encoder is ns['encoder']
    assert np.isfinite(float(ns['learn'].recorder.losses[-1]))

def test_original_simclr_snippet_fastai(tmp_path):
    ns = _run(IMPORTS, DLS.format(img='PILImageBW'), FASTAI, path=_image_folder(tmp_path, mode='L'))
    assert np.isfinite(float(ns['learn'].recorder.losses[-1]))

def test_views_of_before_batch(tmp_path):
    "`learn._split(b); learn('before_batch')` leaves the two views of the batch in `learn.xb`"
    ns = _run(IMPORTS, DLS.format(img='PILImageBW'), FASTAI.split('axes =')[0], path=_image_folder(tmp_path, mode='L'))
    assert ns['learn'].xb[0].shape == (10, 1, 28, 28)

def test_cuda_argument():
    from self_supervised.vision.simclr import get_simclr_aug_pipelines
    from fastai.torch_core import TensorImage
    x = TensorImage(torch.rand(4, 3, 32, 32))
    for p in get_simclr_aug_pipelines(size=28, stats=None, cuda=False): assert p(x).shape == (4, 3, 28, 28)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='cuda=True but no CUDA GPU'): get_simclr_aug_pipelines(size=28, cuda=True)
    else:
        ps = get_simclr_aug_pipelines(size=28, stats=None, cuda=True)
        assert ps[0](x.cuda()).device.type == 'cuda'       # transforms follow the batch's device
