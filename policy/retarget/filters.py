"""Outlier rejection, gap filling and smoothing of per-frame signals (T×D arrays with a T bool valid mask)."""
from __future__ import annotations

import numpy as np

__all__ = ["reject_outliers", "fill_gaps", "gap_lengths", "smooth"]


def reject_outliers(x: np.ndarray, valid: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """``valid`` minus the frames farther than ``threshold`` (Euclidean) from where their neighbours put them: the
    linear interpolation between the nearest valid frame on each side (both within ``window`` frames), so steady
    motion is never an outlier. Frames without a valid neighbour on both sides are kept."""
    x, valid = np.asarray(x, float), np.asarray(valid, bool)
    out = valid.copy()
    while True:  # drop the worst offender, then judge the rest again without it (a spike spoils its neighbours)
        idx = np.flatnonzero(out)
        worst, worst_d = -1, threshold
        for k in range(1, len(idx) - 1):
            a, i, b = idx[k - 1], idx[k], idx[k + 1]
            if i - a > window or b - i > window:
                continue
            d = float(np.linalg.norm(x[i] - (x[a] + (x[b] - x[a]) * (i - a) / (b - a))))
            if d > worst_d:
                worst, worst_d = i, d
        if worst < 0:
            break
        out[worst] = False
    if not out.any():  # everything disagreed with everything: keep the input rather than nothing
        return valid.copy()
    return out


def fill_gaps(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation over invalid frames (per column); before the first / after the last valid frame the
    nearest valid value is held. Raises ValueError if no frame is valid."""
    x, valid = np.asarray(x, float), np.asarray(valid, bool)
    if not valid.any():
        raise ValueError("fill_gaps: no valid frame to fill from")
    t = np.arange(len(x))
    flat = x.reshape(len(x), -1)
    out = np.empty_like(flat)
    for j in range(flat.shape[1]):
        out[:, j] = np.interp(t, t[valid], flat[valid, j])
    return out.reshape(x.shape)


def gap_lengths(valid: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of invalid frames."""
    runs, start = [], None
    for i, v in enumerate(np.asarray(valid, bool)):
        if not v and start is None:
            start = i
        elif v and start is not None:
            runs.append((start, i - start))
            start = None
    if start is not None:
        runs.append((start, len(valid) - start))
    return runs


def smooth(x: np.ndarray, method: str, window: int, order: int) -> np.ndarray:
    """Savitzky–Golay smoothing along axis 0 (scipy), window shrunk to an odd size <= T (no-op below order + 2)."""
    x = np.asarray(x, float)
    if method == "none":
        return x.copy()
    if method != "savgol":
        raise ValueError(f"unknown smoother {method!r}; expected 'savgol' or 'none'")
    from scipy.signal import savgol_filter

    w = min(window, len(x) if len(x) % 2 else len(x) - 1)
    if w % 2 == 0:
        w -= 1
    if w <= order or w < 3:
        return x.copy()
    return savgol_filter(x, w, order, axis=0, mode="interp")
