"""arrayneedle.data.transforms and arrayneedle.data.functional: the one resize, crops, flips."""
import numpy as np
import pytest
from PIL import Image

from arrayneedle.data import (CenterCrop, Compose, Normalize, RandomCrop, RandomHorizontalFlip,
                              Resize, ToArray)
from arrayneedle.data.functional import INTERPOLATIONS, center_crop, cover_size, crop, resize


# ---------------------------------------------------------------------------------------------
# transforms
# ---------------------------------------------------------------------------------------------
def test_transforms_numpy_and_pil():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    pil = Image.fromarray(img)
    r = Resize(10)(img)
    assert r.shape == (10, 15, 3) and r.dtype == np.uint8
    assert Resize(10)(pil).size == (15, 10)
    assert Resize((8, 9))(img.astype(np.float32)).shape == (8, 9, 3)
    c = CenterCrop(10)(img)
    np.testing.assert_array_equal(c, img[5:15, 10:20])
    np.testing.assert_array_equal(np.asarray(CenterCrop(10)(pil)), c)
    assert CenterCrop(24)(img).shape == (24, 24, 3)        # larger than the image: zero-padded
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    np.testing.assert_array_equal(np.asarray(RandomHorizontalFlip(p=1.0)(pil)), img[:, ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(img), img)
    chw = np.transpose(img, (2, 0, 1))
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0, data_format="CHW")(chw), chw[:, :, ::-1])
    # RandomCrop: reproducible by seed, stays inside the padded image
    a = [RandomCrop(8, padding=2, seed=1)(img) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    crops = RandomCrop(8, padding=2, seed=2)
    outs = [crops(img) for _ in range(10)]
    assert all(o.shape == (8, 8, 3) for o in outs)
    assert len({o.tobytes() for o in outs}) > 1
    assert RandomCrop(8, padding=2, seed=3)(pil).size == (8, 8)
    full = RandomCrop((20, 30))(img)
    np.testing.assert_array_equal(full, img)
    # ToArray + Normalize
    t = Compose([CenterCrop(16), ToArray(), Normalize(0.5, 0.5)])
    out = t(pil)
    assert out.shape == (3, 16, 16) and out.dtype == np.float32
    assert -1.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(out, np.transpose(img[2:18, 7:23], (2, 0, 1)) / 127.5 - 1,
                               atol=1e-6)
    g = ToArray()(np.full((4, 5), 255, np.uint8))
    assert g.shape == (1, 4, 5) and g.max() == 1.0
    n = Normalize([0.0, 1.0, 2.0], [1.0, 2.0, 4.0])(np.ones((3, 2, 2), np.float32))
    np.testing.assert_allclose(n[:, 0, 0], [1.0, 0.0, -0.25])
    with pytest.raises(ValueError):
        Normalize([0, 0], [1, 1])(np.ones((3, 2, 2), np.float32))


# ---------------------------------------------------------------------------------------------
# functional.resize: Pillow's filters as weight matrices
# ---------------------------------------------------------------------------------------------
def _pillow(a, size_hw, interpolation, mode=None):
    im = Image.fromarray(a, mode=mode) if mode else Image.fromarray(a)
    return np.asarray(im.resize(size_hw[::-1], getattr(Image.Resampling, interpolation.upper())))


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_resize_matches_pillow(interpolation):
    rng = np.random.default_rng(0)
    f = rng.random((23, 37)).astype(np.float32)
    u8 = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)
    for size in [(10, 15), (40, 50), (7, 60), (23, 20)]:
        # float images: the same filter taps as Pillow, to float32 rounding
        out = resize(f, size, interpolation)
        assert out.shape == size and out.dtype == np.float32
        np.testing.assert_allclose(out, _pillow(f, size, interpolation, "F"), atol=1e-5)
        # uint8: Pillow rounds to uint8 between its two passes, we round once at the end. Where
        # no tap is negative (or when shrinking) that is at most one grey level apart.
        r = resize(u8, size, interpolation).astype(int)
        ref = _pillow(u8, size, interpolation).astype(int)
        assert r.shape == size + (3,)
        if interpolation == "nearest":
            np.testing.assert_array_equal(r, ref)
        elif interpolation in ("box", "bilinear", "hamming") or size[0] <= 23 and size[1] <= 37:
            assert np.abs(r - ref).max() <= 2 and np.abs(r - ref).mean() < 0.35


def test_resize_hand_computed_and_layouts():
    # 4 -> 2 bilinear: the filter widens to 2 pixels, centres at 1 and 3: taps (1/4, 3/4, 3/4,
    # 1/4) / 2 over pixels 0..3 (window clipped at the border)
    row = np.array([[0.0, 4.0, 8.0, 12.0]])
    out = resize(row, (1, 2), "bilinear")
    w = np.array([0.25, 0.75, 0.75, 0.25]) / 2.0
    np.testing.assert_allclose(out[0], [(w[1:] / w[1:].sum()) @ row[0, :3],
                                        (w[:3] / w[:3].sum()) @ row[0, 1:]])
    assert out.dtype == np.float64
    # nearest upscaling by an integer factor repeats pixels
    g = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(resize(g, (4, 9), "nearest"), g.repeat(2, 0).repeat(3, 1))
    # constant images stay constant (weights sum to one), integers are rounded and clipped
    np.testing.assert_array_equal(resize(np.full((5, 7), 200, np.uint8), (9, 3), "lanczos"), 200)
    assert resize(np.zeros((5, 5), np.int16), (3, 3)).dtype == np.int16
    # CHW, a batch NCHW and HWC give the same pixels; results are C-contiguous
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 256, (2, 3, 11, 13), dtype=np.uint8)
    nchw = resize(batch, (6, 8), "bicubic", data_format="CHW")
    assert nchw.shape == (2, 3, 6, 8)
    chw = resize(batch[1], (6, 8), "bicubic", data_format="CHW")
    hwc = resize(np.transpose(batch[1], (1, 2, 0)), (6, 8), "bicubic")
    np.testing.assert_array_equal(nchw[1], chw)
    np.testing.assert_array_equal(chw, np.transpose(hwc, (2, 0, 1)))
    assert hwc.flags.c_contiguous
    # a Pillow image goes to Pillow's resampler and stays a Pillow image
    assert resize(Image.fromarray(batch[0, 0]), (6, 8)).size == (8, 6)
    # the same size is returned as is
    assert resize(g, (2, 3)) is g
    with pytest.raises(ValueError, match="interpolation"):
        resize(g, 4, "cubic")
    with pytest.raises(ValueError, match="size"):
        resize(g, (0, 4))
    with pytest.raises(ValueError, match="dimensions"):
        resize(batch, 4)                         # 4-D needs data_format="CHW"


def test_crops_and_cover_size():
    img = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6)
    np.testing.assert_array_equal(crop(img, 1, 2, 2, 3), img[1:3, 2:5])
    out = crop(img, -1, 4, 3, 3)                 # partly outside: zero-filled
    np.testing.assert_array_equal(out, [[0, 0, 0], [4, 5, 0], [10, 11, 0]])
    np.testing.assert_array_equal(center_crop(img, (2, 2)), img[1:3, 2:4])
    assert cover_size((20, 30), (8, 8)) == (8, 12)
    assert cover_size((40, 24), (6, 10)) == (17, 10)
    assert cover_size((10, 10), (4, 6)) == (6, 6)
