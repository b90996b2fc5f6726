"""`nnctl data augment-preview` (tasks/preview.py): training digits beside random distortions of
them, as a config's data.augment says."""

from __future__ import annotations

import numpy as np
from conftest import assert_one_line_error
from PIL import Image

from nnctl.tasks.preview import pick_digits


def test_augment_preview_writes_a_png_and_refuses_an_existing_one(run, write_config, tmp_path):
    config = write_config({"data": {"augment": {"elastic": {"sigma": 4, "alpha": 34},
                                                "affine": {"rotation": 15}}}})
    out = tmp_path / "figures" / "augment.png"
    result = run("data", "augment-preview", config, "--out", out, "--examples", 3,
                 "--variants", 2)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.width > 3 * 84 and picture.height > 3 * 84
    before = out.read_bytes()
    assert_one_line_error(run("data", "augment-preview", config, "--out", out), 1,
                          "already exists", "--force")
    assert out.read_bytes() == before
    result = run("data", "augment-preview", config, "--out", out, "--force")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() != before  # drawn anew, with the default number of examples


def test_augment_preview_needs_a_distortion(run, write_config, tmp_path):
    out = tmp_path / "augment.png"
    assert_one_line_error(run("data", "augment-preview", write_config({}), "--out", out), 2,
                          "data.augment")
    bad = write_config({"data": {"augment": {"affine": {"rotation": "a lot"}}}}, "bad.yaml")
    assert_one_line_error(run("data", "augment-preview", bad, "--out", out), 2,
                          "data.augment.affine.rotation")
    assert not out.exists()


def test_augment_preview_draws_the_configs_distortions(run, write_config, tmp_path):
    config = write_config({"data": {"augment": {"affine": {"rotation": 15.0}}}})
    out = tmp_path / "preview.png"
    result = run("data", "augment-preview", config, "--out", out, "--examples", "3")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pick_digits_takes_one_of_each_class_in_turn():
    labels = np.array([3, 1, 3, 2, 1, 2, 3, 1])
    picks = pick_digits(labels, 7, np.random.default_rng(0))
    assert list(labels[picks]) == [1, 2, 3, 1, 2, 3, 1]
    assert np.array_equal(picks, pick_digits(labels, 7, np.random.default_rng(0)))
