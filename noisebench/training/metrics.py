"""Classification metrics as small pure numpy functions over integer label arrays.

Inputs: `y_true`, `y_pred` — 1-D integer arrays of equal, non-zero length (class indices >= 0).

Macro-F1 convention: the mean of per-class F1 over every class that occurs in `y_true` OR in `y_pred` (the
union). A class in that union always has TP + FP + FN > 0, so its F1 = 2·TP / (2·TP + FP + FN) is always defined;
a class predicted but never true (or true but never predicted) counts with F1 = 0. Classes in neither are left
out (they say nothing about this sample). This equals scikit-learn's `f1_score(average="macro")` with its default
`labels` (the sorted union) — without the dependency.
"""

from __future__ import annotations

import numpy as np


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must be 1-D arrays of equal length, got {t.shape} and {p.shape}")
    if t.size == 0:
        raise ValueError("metrics need at least one example")
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)):
        raise ValueError("labels must be integer class indices")
    if t.min() < 0 or p.min() < 0:
        raise ValueError("class indices must be non-negative")
    return t.astype(np.int64), p.astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of positions where y_pred equals y_true."""
    t, p = _check(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """int64 [K, K]: entry [i, j] counts examples of true class i predicted as j. K = num_classes, or
    1 + the largest index seen."""
    t, p = _check(y_true, y_pred)
    k = int(max(t.max(), p.max())) + 1 if num_classes is None else num_classes
    if max(t.max(), p.max()) >= k:
        raise ValueError(f"class index {int(max(t.max(), p.max()))} does not fit {k} classes")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)


def per_class_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """float64 [K]: F1 of each class = 2·TP / (2·TP + FP + FN); NaN for a class in neither array."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), np.nan)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean per-class F1 over the classes present in y_true or y_pred (see the module docstring)."""
    f1 = per_class_f1(y_true, y_pred)
    return float(np.mean(f1[~np.isnan(f1)]))


def summarize(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> dict:
    """accuracy, macro_f1, per_class_f1 (list, None for absent classes) and confusion (nested lists) in one dict."""
    f1 = per_class_f1(y_true, y_pred, num_classes)
    return {"n": int(np.asarray(y_true).size), "accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred),
            "per_class_f1": [None if np.isnan(v) else float(v) for v in f1],
            "confusion": confusion_matrix(y_true, y_pred, num_classes).tolist()}
