"""Reading image files: the format from the content, EXIF orientation, bounds before decoding,
grey levels of every mode, Pillow's Lanczos scaling. Uploads to `nnctl serve` (decode_image,
reduced decoding, hostile files) are in tests/serve/test_hostile_requests.py."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE
from PIL import Image

from nnctl.errors import DataError
from nnctl.io.images import grey_levels, lanczos, looks_like_an_image, read_image

N = SAMPLE  # the MNIST test digits of conftest's `digits`


def test_read_image_detects_the_format_by_content(digits, tmp_path):
    png = tmp_path / "digit.png"
    Image.fromarray(digits[0][0]).save(png)
    disguised = tmp_path / "digit.jpg"  # a PNG with a JPEG name
    disguised.write_bytes(png.read_bytes())
    no_name = tmp_path / "digit"
    Image.fromarray(255 - digits[0][0]).resize((200, 160)).save(no_name, format="JPEG",
                                                                quality=75)
    assert read_image(no_name).size == (200, 160)
    np.testing.assert_array_equal(np.asarray(read_image(disguised)), np.asarray(read_image(png)))
    with pytest.raises(DataError, match="is a directory"):
        read_image(tmp_path)
    assert looks_like_an_image(no_name) and looks_like_an_image(disguised)
    (tmp_path / "notes.txt").write_text("not an image")
    assert not looks_like_an_image(tmp_path / "notes.txt")


def test_read_image_turns_a_photo_upright_and_refuses_bombs(digits, tmp_path, monkeypatch):
    upright = Image.fromarray(digits[0][5])
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as phones write it
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.png", exif=exif)
    np.testing.assert_array_equal(np.asarray(read_image(tmp_path / "phone.png")), digits[0][5])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 28x28 is more than twice that
    with pytest.raises(DataError, match="too many pixels"):
        read_image(tmp_path / "phone.png")


def test_grey_levels_of_every_mode_agree(digits):
    pixels = digits[0][0]
    expected = pixels.astype(np.float64)
    for image in (Image.fromarray(pixels), Image.fromarray(pixels).convert("RGB"),
                  Image.fromarray(pixels).convert("P"), Image.fromarray(pixels).convert("LA"),
                  Image.fromarray(pixels.astype(np.uint16) * 257),
                  Image.fromarray(pixels.astype(np.int32) * 257, "I"),
                  Image.fromarray(pixels.astype(np.float32) / 255)):
        np.testing.assert_allclose(grey_levels(image), expected, atol=0.5, err_msg=image.mode)
    assert set(np.unique(grey_levels(Image.fromarray(pixels > 127)))) <= {0.0, 255.0}
    # transparency is composited on white: a fully transparent pixel is paper
    rgba = Image.new("RGBA", (3, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 255))
    assert grey_levels(rgba).tolist() == [[255.0, 0.0, 255.0]]


def test_lanczos_is_pillows_on_float_grey_levels(digits):
    pixels = digits[0][3].astype(np.float64)
    scaled = lanczos(pixels, (20, 13))
    assert scaled.shape == (20, 13) and scaled.dtype == np.float32
    expected = Image.fromarray(pixels.astype(np.float32)).resize((13, 20), Image.LANCZOS)
    np.testing.assert_array_equal(scaled, np.asarray(expected))
    assert scaled.min() < 0.0  # Lanczos rings below black: mnist_image clips it
