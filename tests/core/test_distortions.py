"""core/distortions.py (the distortions, readable numpy) and its compiled twin engine/distort.py."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.core import distortions as augment
from nnctl.core.distortions import Distortions, distort, distortions_from_dict, draw, field_bank
from nnctl.engine import distort as twin
from nnctl.errors import ConfigError

EXTREME = Distortions(sigma=8, alpha=60, rotation=180, scale=0.99, shear=80, translation=12)
SQUARE, WIDE = (12, 12), (9, 14)


def images(n: int, shape: tuple[int, int], dtype=np.float32, seed: int = 0) -> np.ndarray:
    """Random images in [0, 1], a quarter of their pixels zero."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, shape[0] * shape[1]))
    x[rng.uniform(size=x.shape) < 0.25] = 0.0
    return x.astype(dtype)


def params(n: int, **values) -> dict[str, np.ndarray]:
    """Parameters of n identical distortions: the identity, but for `values`."""
    given = {"angle": 0.0, "sx": 1.0, "sy": 1.0, "shear": 0.0, "tx": 0.0, "ty": 0.0, "field": 0}
    given.update(values)
    return {key: np.full(n, value) for key, value in given.items()}


def both(x, p, bank, shape) -> list[np.ndarray]:
    """The readable and the compiled distortion of x."""
    return [distort(x, p, bank, shape), twin.distort(x, p, bank, shape)]


def no_bank(shape) -> np.ndarray:
    return field_bank(Distortions(), shape, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [SQUARE, WIDE])
def test_identity_parameters_give_the_input_exactly(dtype, shape):
    x = images(20, shape, dtype)
    for drawn in (params(20), draw(Distortions(), 20, np.random.default_rng(1))):
        for out in both(x, drawn, no_bank(shape), shape):
            assert out.dtype == dtype and np.array_equal(out, x)


def test_zero_displacement_is_exact_and_alpha_zero_switches_elastic_off():
    x = images(30, SQUARE)
    assert len(field_bank(Distortions(sigma=4, alpha=0), SQUARE, 0)) == 0
    zeros = np.zeros((5, 24, 24, 2), dtype=np.float32)  # every field, symmetry and offset
    p = draw(Distortions(sigma=4), 30, np.random.default_rng(2))
    for out in both(x, p, zeros, SQUARE):
        assert np.array_equal(out, x)


def test_a_translation_by_one_pixel_shifts_the_image_by_one_pixel():
    x = images(4, WIDE)
    grid = x.reshape(4, *WIDE)
    for out in both(x, params(4, tx=1.0), no_bank(WIDE), WIDE):  # to the right
        out = out.reshape(4, *WIDE)
        assert np.array_equal(out[:, :, 1:], grid[:, :, :-1]) and not out[:, :, 0].any()
    for out in both(x, params(4, ty=-1.0), no_bank(WIDE), WIDE):  # up
        out = out.reshape(4, *WIDE)
        assert np.array_equal(out[:, :-1], grid[:, 1:]) and not out[:, -1].any()


def test_rotation_by_90_degrees_turns_a_square_counter_clockwise():
    x = images(3, SQUARE)
    for out in both(x, params(3, angle=90.0), no_bank(SQUARE), SQUARE):
        turned = np.rot90(x.reshape(3, *SQUARE), axes=(1, 2))  # counter-clockwise as displayed
        np.testing.assert_allclose(out.reshape(3, *SQUARE), turned, atol=1e-6)


def test_half_a_pixel_shift_averages_neighbours():
    x = np.zeros((1, 9), dtype=np.float64)
    x[0, 4] = 1.0  # the centre of a 3x3 image
    for out in both(x, params(1, tx=0.5), no_bank((3, 3)), (3, 3)):
        np.testing.assert_array_equal(out.reshape(3, 3)[1], [0.0, 0.5, 0.5])


@pytest.mark.parametrize("shape", [SQUARE, WIDE, (28, 28)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_twin_equals_the_numpy_version(shape, dtype):
    x = images(200, shape, dtype)
    for distortions in (EXTREME, Distortions(sigma=4, alpha=34), Distortions(alpha=3),
                        Distortions(rotation=15, scale=0.15, shear=15, translation=2)):
        p = draw(distortions, len(x), np.random.default_rng(3))
        bank = field_bank(distortions, shape, seed=4)
        readable, compiled = both(x, p, bank, shape)
        assert compiled.dtype == dtype
        np.testing.assert_allclose(compiled, readable, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape", [SQUARE, WIDE])
def test_each_symmetry_of_a_field_is_that_field_flipped_and_transposed(shape):
    """Distorting a flipped image by the flipped field flips the distorted image: the field's
    components are swapped and negated to match its flips and transposes."""
    x = images(1, shape, np.float64)
    bank = field_bank(Distortions(sigma=2, alpha=4), shape, 0)[:1, : shape[0], : shape[1]]
    unflipped = distort(x, params(1), bank, shape).reshape(shape)
    for code in range(8 if shape[0] == shape[1] else 4):  # one field, one offset: field = code
        flipped = np.ascontiguousarray(symmetric(x.reshape(shape), code)).reshape(1, -1)
        for out in both(flipped, params(1, field=code), bank, shape):
            np.testing.assert_allclose(out.reshape(shape), symmetric(unflipped, code), atol=1e-12)


def symmetric(image: np.ndarray, code: int) -> np.ndarray:
    """An image transposed, flipped left-right, flipped upside down as bits 2, 0, 1 say."""
    image = image.T if code & 4 else image
    image = image[:, ::-1] if code & 1 else image
    return image[::-1] if code & 2 else image


def test_the_field_bank_is_smoothed_uniform_noise_scaled_by_alpha():
    bank = field_bank(Distortions(sigma=4, alpha=34), (28, 28), seed=7)
    assert bank.shape == (augment.BANK_FIELDS, 56, 56, 2) and bank.dtype == np.float32
    # uniform(-1, 1) has sd 1/sqrt(3); a normalised 2-D Gaussian of sd sigma divides it by
    # 2 sqrt(pi) sigma: Simard's sigma 4, alpha 34 moves a pixel by about 1.4 pixels (sd)
    assert bank.std() == pytest.approx(34 / np.sqrt(3) / (2 * np.sqrt(np.pi) * 4), rel=0.05)
    assert abs(bank.mean()) < 0.05
    assert np.array_equal(bank, field_bank(Distortions(sigma=4, alpha=34), (28, 28), seed=7))
    assert not np.array_equal(bank, field_bank(Distortions(sigma=4, alpha=34), (28, 28), seed=8))


def test_the_same_generator_state_gives_the_same_distortions():
    x = images(50, SQUARE)
    bank = field_bank(EXTREME, SQUARE, 0)
    first, second = (twin.distort(x, draw(EXTREME, 50, np.random.default_rng(9)), bank, SQUARE)
                     for _ in range(2))
    assert np.array_equal(first, second) and not np.array_equal(first, x)
    # the same numbers are drawn whatever is switched on: what follows does not move
    after = []
    for distortions in (Distortions(), EXTREME):
        rng = np.random.default_rng(9)
        draw(distortions, 50, rng)
        after.append(rng.random())
    assert after[0] == after[1]


def test_distortions_from_a_config_mapping():
    assert distortions_from_dict(None) == Distortions() and not Distortions()
    got = distortions_from_dict({"elastic": {"sigma": 6, "alpha": 36},
                                 "affine": {"rotation": 15, "scale": 0.15}})
    assert got == Distortions(sigma=6.0, alpha=36.0, rotation=15.0, scale=0.15)
    assert got and got.elastic and "σ 6 α 36" in got.describe()
    for raw, words in (({"elastic": {"sigma": -1}}, "data.augment.elastic.sigma"),
                       ({"affine": {"scale": 1.0}}, "data.augment.affine.scale"),
                       ({"affine": {"shear": True}}, "data.augment.affine.shear"),
                       ({"affine": {"rotate": 5}}, "data.augment.affine.rotate: unknown key"),
                       ({"noise": {}}, "data.augment.noise: unknown key"),
                       ({"affine": 15}, "data.augment.affine: must be a mapping")):
        with pytest.raises(ConfigError, match=words):
            distortions_from_dict(raw)
