"""The quality yardstick: its statistics on synthetic arrays (always), the digits classifier
and scoring (with scikit-learn), the CLI's flag errors."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from diffusion import quality
from diffusion.quality import class_coverage, frechet_distance, gaussian_stats

ROOT = Path(__file__).resolve().parents[2]


def test_frechet_distance_closed_forms():
    # equal Gaussians: 0; shifted means: |d|^2; 1-D: (m1-m2)^2 + (s1 - s2)^2
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert frechet_distance([0, 0], cov, [0, 0], cov) == pytest.approx(0, abs=1e-10)
    assert frechet_distance([1, 2], cov, [0, 0], cov) == pytest.approx(5.0)
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    # commuting (diagonal) covariances: sum of (sqrt(a) - sqrt(b))^2
    a, b = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])
    assert frechet_distance(np.zeros(3), a, np.zeros(3), b) == pytest.approx(1 + 0 + 4)
    # a general pair against scipy's formula written out with an eigen-based sqrtm
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((500, 4)), rng.standard_normal((400, 4)) @ rng.random((4, 4))
    (m1, c1), (m2, c2) = gaussian_stats(x), gaussian_stats(y)
    w = np.linalg.eigvals(c1 @ c2)
    tr = np.real(np.sum(np.sqrt(w.astype(complex))))
    ref = np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * tr
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(ref, rel=1e-8)
    assert frechet_distance(m2, c2, m1, c1) == pytest.approx(ref, rel=1e-8)
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(m1, c1, m2[:3], c2[:3, :3])


def test_gaussian_stats_and_coverage():
    f = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mu, cov = gaussian_stats(f)
    np.testing.assert_allclose(mu, [2, 2])
    np.testing.assert_allclose(cov, [[4, 3], [3, 3]])
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_stats(np.zeros((1, 3)))
    assert class_coverage(np.arange(100) % 10, 10) == pytest.approx(1.0)
    assert class_coverage(np.full(50, 3), 10) == pytest.approx(0.0)
    # two classes equally often out of 4: log 2 / log 4
    assert class_coverage([0, 1, 0, 1], 4) == pytest.approx(0.5)
    p = np.array([0.5, 0.25, 0.25])
    assert class_coverage([0, 0, 1, 2], 3) == pytest.approx(-(p * np.log(p)).sum() / math.log(3))


def test_yardstick_on_synthetic_classes():
    # two well-separated "image" classes: the classifier learns them, real data scores near the
    # floor, one-class output has low coverage and noise a large distance
    rng = np.random.default_rng(0)
    y = np.arange(240) % 2
    x = np.where(y[:, None, None, None] == 0, -0.6, 0.6) \
        + 0.15 * rng.standard_normal((240, 1, 4, 4))
    x = np.clip(x, -1, 1).astype(np.float32)
    yard = quality.QualityYardstick((x[:160], y[:160]), (x[160:], y[160:]), num_classes=2,
                                    epochs=8, seed=0)
    assert yard.test_accuracy == 1.0
    floor, ceil = yard.floor(), yard.ceiling()
    assert floor["confidence"] > 0.9 and floor["coverage"] > 0.95
    assert ceil["fd"] > 5 * floor["fd"]
    one = yard.score(x[160:][y[160:] == 1])
    assert one["coverage"] < 0.05
    with pytest.raises(ValueError, match="images must have shape"):
        yard.score(np.zeros((3, 1, 5, 5), np.float32))


def test_digits_yardstick():
    pytest.importorskip("sklearn")
    (xt, yt), (xh, yh) = quality.load_digits_split(seed=0)
    assert xt.shape[1:] == (1, 8, 8) and xt.dtype == np.float32
    assert len(xh) == 449 and xt.min() == -1.0 and xt.max() == 1.0
    # a small training subset and two epochs keep this fast; still far above chance (0.1)
    yard = quality.QualityYardstick((xt[:400], yt[:400]), (xh, yh), epochs=2, seed=0)
    assert yard.test_accuracy > 0.6
    floor, ceil = yard.floor(), yard.ceiling()
    assert floor["fd"] < ceil["fd"] and floor["confidence"] > ceil["confidence"]
    assert floor["coverage"] > 0.95


def _script():
    spec = importlib.util.spec_from_file_location("quality_script",
                                                  ROOT / "scripts" / "quality.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("args,msg", [(["--sampler", "plms"], "unknown"),
                                      (["--steps", "0"], "positive"),
                                      (["--n", "2"], "at least 4"),
                                      (["--checkpoint", "/nonexistent.npz"], "no such file"),
                                      (["--dataset", "mnist"], "needs --data"),
                                      (["--frobnicate"], "unrecognized")])
def test_cli_bad_flags_exit_2_with_one_line(args, msg, capsys):
    try:
        rc = _script().main(args)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    assert rc == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0] and lines[0].startswith("quality.py: error:")
