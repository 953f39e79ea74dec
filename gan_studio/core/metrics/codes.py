"""How well an unsupervised code matches the true classes: accuracy under the best one-to-one matching.

InfoGAN's categorical code is learned without labels, so code value k has no reason to mean class k.
The measure pairs code values with classes so that as many images as possible agree (the Hungarian
algorithm, ``scipy.optimize.linear_sum_assignment``, on the confusion matrix), then counts the share
that agrees. With more code values than classes, the unpaired values count as wrong, and the other
way round. Chen et al. 2016 report 5 % error on MNIST this way (their Q's code on real digits).
"""
from __future__ import annotations

import numpy as np


def confusion_matrix(codes, labels, n_codes: int, n_labels: int) -> np.ndarray:
    """(n_codes, n_labels) int64 counts: entry [k, m] is how many items have code k and label m."""
    codes, labels = np.asarray(codes, np.int64).ravel(), np.asarray(labels, np.int64).ravel()
    if codes.shape != labels.shape:
        raise ValueError(f"codes and labels differ in length: {codes.size} and {labels.size}")
    out = np.zeros((n_codes, n_labels), np.int64)
    np.add.at(out, (codes, labels), 1)
    return out


def matched_accuracy(confusion: np.ndarray) -> tuple[float, dict[int, int]]:
    """(accuracy, {code: label}) under the one-to-one matching of code values to labels that
    maximises the matched count; accuracy = matched count / all counts (0 for an empty matrix)."""
    from scipy.optimize import linear_sum_assignment
    confusion = np.asarray(confusion)
    total = confusion.sum()
    if total == 0:
        return 0.0, {}
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return float(confusion[rows, cols].sum() / total), {int(r): int(c) for r, c in zip(rows, cols)}
