"""The mode metrics give the published definitions' answers on hand-made sample sets."""
import math

import numpy as np
import pytest

from gan_studio.core.data.mixtures import grid_means, ring_means
from gan_studio.core.metrics.modes import mode_metrics

MEANS = ring_means(8, 1.0).numpy()
SIGMA = 0.01


def at_modes(counts, offset=0.0):
    """counts[k] samples placed at mode k, shifted radially by offset."""
    pts = [MEANS[k] * (1 + offset) for k, c in enumerate(counts) for _ in range(c)]
    return np.array(pts, dtype=np.float64).reshape(-1, 2)


def test_perfect_generator_captures_all_modes_with_zero_reverse_kl():
    m = mode_metrics(at_modes([100] * 8), MEANS, SIGMA)
    assert m["modes"] == 8 and m["modes_strict"] == 8
    assert m["hq"] == pytest.approx(100.0)
    assert m["rkl"] == pytest.approx(0.0, abs=1e-12)
    assert m["mode_counts"] == [100] * 8


def test_fully_collapsed_generator_has_one_mode_and_reverse_kl_log_k():
    m = mode_metrics(at_modes([2500, 0, 0, 0, 0, 0, 0, 0]), MEANS, SIGMA)
    assert m["modes"] == 1 and m["modes_strict"] == 1
    assert m["rkl"] == pytest.approx(math.log(8))


def test_hq_threshold_is_three_sigma():
    inside = at_modes([10] * 8, offset=2.9 * SIGMA)   # 2.9 sigma from each mean
    outside = at_modes([10] * 8, offset=3.1 * SIGMA)
    assert mode_metrics(inside, MEANS, SIGMA)["hq"] == pytest.approx(100.0)
    m = mode_metrics(outside, MEANS, SIGMA)
    assert m["hq"] == 0.0 and m["modes"] == 0 and m["rkl"] is None


def test_one_hq_sample_captures_a_mode_but_not_strictly():
    # 1,000 HQ samples over 8 modes: expected share 125, strict threshold 0.25 * 1000 / 8 = 31.25
    counts = [330, 330, 300, 31, 8, 1, 0, 0]
    m = mode_metrics(at_modes(counts), MEANS, SIGMA)
    assert m["modes"] == 6
    assert m["modes_strict"] == 3
    p = np.array(counts) / 1000
    expected = sum(pk * math.log(pk * 8) for pk in p if pk > 0)
    assert m["rkl"] == pytest.approx(expected)


def test_hq_percentage_counts_all_samples_including_low_quality_ones():
    good = at_modes([100] * 8)
    far = np.full((800, 2), 10.0)
    m = mode_metrics(np.concatenate([good, far]), MEANS, SIGMA)
    assert m["hq"] == pytest.approx(50.0)
    assert m["modes"] == 8 and m["rkl"] == pytest.approx(0.0, abs=1e-12)


def test_grid25_nearest_mode_assignment():
    means = grid_means().numpy()
    pts = means[[0, 0, 24, 12]] + np.array([[0.1, 0], [0, -0.1], [0.05, 0.05], [0.16, 0]])
    m = mode_metrics(pts, means, 0.05)
    # 0.16 > 3 * 0.05: the last sample is not HQ
    assert m["modes"] == 2 and m["hq"] == pytest.approx(75.0)
    assert m["mode_counts"][0] == 2 and m["mode_counts"][24] == 1
