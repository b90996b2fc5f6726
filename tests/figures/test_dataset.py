"""The picture of a dataset directory (nnctl.figures.dataset.info_figure): sample images and the
class means, a PNG written atomically, its size bounded. (`data info --figure`'s output paths:
tests/io/datasets/test_hostile_datasets.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from datafiles import make_arrays, write_dataset
from PIL import Image

from nnctl.errors import DataError
from nnctl.figures import dataset
from nnctl.figures.dataset import info_figure
from nnctl.io.examples import BUNDLED_DIR


def test_info_figure_writes_a_png(tmp_path):
    arrays = make_arrays(n_train=60, n_test=10, shape=(6, 4), classes=3)
    write_dataset(tmp_path / "d", arrays)
    out = info_figure(tmp_path / "d", tmp_path / "fig.png", per_class=5, zoom=2,
                      class_names=["a", "b", "c"])
    picture = Image.open(out)
    assert picture.format == "PNG"
    width, height = picture.size
    assert width > 6 * 4 * 2 and height > 3 * 6 * 2  # 5 samples + mean wide, 3 rows high
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "fig.png"]  # no temporary file


def test_info_figure_of_the_bundled_mnist(tmp_path):
    out = info_figure(BUNDLED_DIR, tmp_path / "mnist.png", zoom=2)
    picture = Image.open(out)
    assert picture.size[0] >= 11 * 28 * 2 and picture.size[1] >= 10 * 28 * 2
    assert 20_000 < out.stat().st_size < 2_000_000
    grey = np.asarray(picture.convert("L"))
    assert grey.min() == 0 and grey.max() == 255


def test_info_figure_too_large_to_draw(tmp_path, monkeypatch):
    d = tmp_path / "d"
    write_dataset(d, make_arrays(n_train=40, n_test=4, shape=(30, 20), classes=20))
    monkeypatch.setattr(dataset, "MAX_FIGURE_PIXELS", 2_000_000)
    out = dataset.info_figure(d, tmp_path / "f.png", zoom=8)  # zoom reduced to fit
    width, height = Image.open(out).size
    assert width * height <= 2_000_000 and width > 11 * 20
    monkeypatch.setattr(dataset, "MAX_FIGURE_PIXELS", 100_000)
    with pytest.raises(DataError, match=r"20 classes of 30x20 images .* too large to draw"):
        dataset.info_figure(d, tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()
