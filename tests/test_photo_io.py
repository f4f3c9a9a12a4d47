import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from ragan_tf.faces import photo_io
from ragan_tf.faces.photo_io import PhotoError, detection_image, load_photo, save_photo


def blocks(height=40, width=60):
    """A picture of flat colour blocks (JPEG keeps it almost exactly), no symmetry."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2, : width // 3] = (220, 30, 30)
    image[: height // 2, width // 3 :] = (30, 200, 40)
    image[height // 2 :, : 2 * width // 3] = (40, 60, 210)
    image[height // 2 :, 2 * width // 3 :] = (240, 240, 60)
    return image


def png_header_only(path, width, height):
    """A PNG whose header claims width x height but whose pixel data is garbage:
    opening it works, decoding it fails."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"garbage") + chunk(b"IEND", b""))
    return path


def temporary_files(folder):
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


def test_rgb_png_loads_exactly(tmp_path):
    image = blocks()
    Image.fromarray(image).save(tmp_path / "photo.png")
    photo = load_photo(tmp_path / "photo.png")
    np.testing.assert_array_equal(photo.rgb, image)
    assert photo.rgb.dtype == np.uint8 and photo.rgb.flags.writeable
    assert (photo.alpha, photo.greyscale, photo.bit_depth, photo.path) == (None, False, 8, str(tmp_path / "photo.png"))


def test_exif_orientation_rotates_the_jpeg(tmp_path):
    image = blocks()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs 90 degrees clockwise
    Image.fromarray(image).save(tmp_path / "phone.jpg", quality=100, exif=exif)
    photo = load_photo(tmp_path / "phone.jpg")
    assert photo.rgb.shape == (60, 40, 3)
    error = np.abs(photo.rgb.astype(int) - np.rot90(image, -1)).mean()
    assert error < 3.0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pil_exif_transpose(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.png"
    Image.fromarray(blocks()).save(path, exif=exif)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(load_photo(path).rgb, expected)


def test_greyscale_round_trip_stays_single_channel(tmp_path):
    grey = np.arange(50 * 30, dtype=np.uint32).reshape(50, 30).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    photo = load_photo(tmp_path / "grey.png")
    assert photo.greyscale and photo.rgb.shape == (50, 30, 3)
    for channel in range(3):
        np.testing.assert_array_equal(photo.rgb[:, :, channel], grey)
    save_photo(photo.rgb, tmp_path / "out.png", greyscale=photo.greyscale)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "L"
        np.testing.assert_array_equal(np.asarray(written), grey)


def test_rgba_keeps_its_alpha_through_load_and_save(tmp_path):
    image = blocks()
    alpha = np.tile(np.linspace(0, 255, 60).astype(np.uint8), (40, 1))
    Image.fromarray(np.dstack([image, alpha]), "RGBA").save(tmp_path / "cutout.png")
    photo = load_photo(tmp_path / "cutout.png")
    np.testing.assert_array_equal(photo.rgb, image)
    np.testing.assert_array_equal(photo.alpha, alpha)
    save_photo(photo, tmp_path / "out.png")  # a Photo carries its alpha along
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(written)[:, :, 3], alpha)
    save_photo(photo.rgb, tmp_path / "out.jpg", alpha=photo.alpha)  # JPEG has no alpha: dropped
    assert load_photo(tmp_path / "out.jpg").alpha is None


def test_palette_with_transparency_and_greyscale_with_alpha(tmp_path):
    palette_image = Image.fromarray(blocks()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    palette_image.info["transparency"] = 0
    palette_image.save(tmp_path / "palette.png", transparency=0)
    photo = load_photo(tmp_path / "palette.png")
    assert photo.alpha is not None and set(np.unique(photo.alpha)) == {0, 255}
    Image.fromarray(np.dstack([np.full((8, 8), 90, np.uint8), np.full((8, 8), 7, np.uint8)]), "LA").save(
        tmp_path / "la.png"
    )
    photo = load_photo(tmp_path / "la.png")
    assert photo.greyscale and (photo.rgb == 90).all() and (photo.alpha == 7).all()


def test_16_bit_greyscale_png_scales_by_257(tmp_path):
    values = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    values[0, 0] = 65535
    values[0, 1] = 128  # 128 / 257 rounds to 0, 129 would round to 1
    cv2.imwrite(str(tmp_path / "deep.png"), values)
    photo = load_photo(tmp_path / "deep.png")
    expected = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected[0, 0], expected[0, 1] = 255, 0
    assert photo.greyscale and photo.bit_depth == 16
    np.testing.assert_array_equal(photo.rgb[:, :, 1], expected)


@pytest.mark.parametrize("name", ["deep.png", "deep.tif"])
def test_16_bit_colour_keeps_channel_order_and_scales_all_16_bits(tmp_path, name):
    rgb = np.zeros((4, 5, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 65535, 257 * 100, 32896  # 32896 / 257 = 128.0; its high byte too
    rgb[0, 0, 2] = 32767  # 32767 / 257 = 127.5 -> 127 (and its high byte also 127)
    rgb[0, 1, 2] = 383  # 383 / 257 = 1.49 -> 1
    rgb[0, 2, 2] = 65000  # 65000 / 257 = 252.9 -> 253
    rgb[0, 3, 2] = 64000  # 64000 / 257 = 249.03 -> 249 (its high byte, what PIL alone gives, is 250)
    cv2.imwrite(str(tmp_path / name), rgb[:, :, ::-1])  # OpenCV writes BGR
    photo = load_photo(tmp_path / name)
    assert not photo.greyscale and photo.bit_depth == 16 and photo.alpha is None
    np.testing.assert_array_equal(photo.rgb[1, 1], [255, 100, 128])
    np.testing.assert_array_equal(photo.rgb[0, :4, 2], [127, 1, 253, 249])


def test_16_bit_rgba_png_keeps_its_alpha(tmp_path):
    rgba = np.zeros((3, 3, 4), np.uint16)
    rgba[..., 0], rgba[..., 3] = 257 * 200, 257 * 7
    cv2.imwrite(str(tmp_path / "deep.png"), rgba[:, :, [2, 1, 0, 3]])
    photo = load_photo(tmp_path / "deep.png")
    assert photo.bit_depth == 16 and (photo.rgb[..., 0] == 200).all() and (photo.alpha == 7).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.fromarray(blocks()).convert("CMYK").save(tmp_path / "print.jpg", quality=100)
    photo = load_photo(tmp_path / "print.jpg")
    assert photo.rgb.shape == (40, 60, 3) and not photo.greyscale
    assert np.abs(photo.rgb.astype(int) - blocks()).mean() < 6.0


def test_decompression_bomb_is_refused_from_the_header_alone(tmp_path, monkeypatch):
    path = png_header_only(tmp_path / "bomb.png", 30000, 30000)

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(PhotoError) as error:
        load_photo(path)
    message = str(error.value)
    assert str(path) in message and "30000x30000" in message and "900 MP" in message
    assert "100 MP" in message and "--max-pixels" in message


def test_max_pixels_limits_small_images_too_and_none_disables_it(tmp_path):
    Image.fromarray(blocks()).save(tmp_path / "photo.png")
    with pytest.raises(PhotoError, match="60x40 pixels"):
        load_photo(tmp_path / "photo.png", max_pixels=1000)
    assert load_photo(tmp_path / "photo.png", max_pixels=2400).rgb.shape == (40, 60, 3)
    with pytest.raises(PhotoError, match="truncated or corrupt"):  # allowed, then fails to decode
        load_photo(png_header_only(tmp_path / "bomb.png", 30000, 30000), max_pixels=None)


def test_pils_own_bomb_errors_become_photo_errors(tmp_path, monkeypatch):
    Image.fromarray(blocks()).save(tmp_path / "photo.png")

    def bomb(*args):
        raise Image.DecompressionBombError("Image size (1 pixels) exceeds limit")

    monkeypatch.setattr(photo_io, "_decode", bomb)
    with pytest.raises(PhotoError, match="photo.png.*decompression bombs"):
        load_photo(tmp_path / "photo.png")
    assert Image.MAX_IMAGE_PIXELS == 89478485  # PIL's global is restored


def test_unreadable_inputs_give_clear_photo_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(PhotoError, match="notes.txt: not an image file"):
        load_photo(tmp_path / "notes.txt")
    with pytest.raises(PhotoError, match="missing.jpg: no such file"):
        load_photo(tmp_path / "missing.jpg")
    with pytest.raises(PhotoError, match="is a folder"):
        load_photo(tmp_path)
    Image.fromarray(blocks(200, 200)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(PhotoError, match="cut.jpg: .*truncated or corrupt"):
        load_photo(tmp_path / "cut.jpg")


def test_loading_never_touches_the_file(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(blocks()).save(tmp_path / "photo.jpg", exif=exif)
    before = (tmp_path / "photo.jpg").read_bytes(), os.stat(tmp_path / "photo.jpg").st_mtime_ns
    load_photo(tmp_path / "photo.jpg")
    assert ((tmp_path / "photo.jpg").read_bytes(), os.stat(tmp_path / "photo.jpg").st_mtime_ns) == before


def test_save_writes_png_and_jpeg_by_extension(tmp_path):
    image = blocks()
    assert save_photo(image, tmp_path / "a.png") == str(tmp_path / "a.png")
    save_photo(image, tmp_path / "a.JPG")
    with Image.open(tmp_path / "a.png") as png, Image.open(tmp_path / "a.JPG") as jpeg:
        assert (png.format, jpeg.format) == ("PNG", "JPEG")
    np.testing.assert_array_equal(load_photo(tmp_path / "a.png").rgb, image)
    assert temporary_files(tmp_path) == []


def test_unsupported_extension_writes_nothing(tmp_path):
    with pytest.raises(PhotoError, match=r"out.xyz: cannot write '.xyz' files; use one of"):
        save_photo(blocks(), tmp_path / "out.xyz")
    assert os.listdir(tmp_path) == []


def test_a_failing_encoder_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    (tmp_path / "out.png").write_bytes(b"previous result")
    original_save = Image.Image.save

    def half_then_fail(self, fp, *args, **kwargs):
        with open(fp, "wb") as handle:
            handle.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", half_then_fail)
    with pytest.raises(PhotoError, match="out.png: writing failed .*disk full.*nothing was written"):
        save_photo(blocks(), tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes() == b"previous result"
    assert temporary_files(tmp_path) == []
    monkeypatch.setattr(Image.Image, "save", original_save)
    with pytest.raises(PhotoError, match="does not exist"):
        save_photo(blocks(), tmp_path / "missing" / "out.png")


def test_save_rejects_non_uint8_rgb(tmp_path):
    with pytest.raises(PhotoError, match="uint8"):
        save_photo(np.zeros((4, 4, 3), np.float32), tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


def test_detection_image_shrinks_only_large_photos_and_maps_points_back():
    small_photo = np.zeros((300, 200, 3), np.uint8)
    same, scale = detection_image(small_photo, max_side=1024)
    assert same is small_photo and scale == 1.0

    photo = np.zeros((2000, 3000, 3), np.uint8)
    photo[1198:1202, 2098:2102] = 255  # a dot centred on (2099.5, 1199.5)
    small, scale = detection_image(photo, max_side=1000)
    assert small.shape == (667, 1000, 3) and scale == pytest.approx(1 / 3)
    ys, xs = np.nonzero(small[:, :, 0])
    weights = small[ys, xs, 0].astype(float)
    centre = np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])
    np.testing.assert_allclose((centre + 0.5) / scale - 0.5, [2099.5, 1199.5], atol=1.0)
