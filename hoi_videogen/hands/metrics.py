"""Hand-keypoint metrics: tracked (or predicted) hands against ground truth, in pixels.

All functions work on plain arrays in :class:`hoi2robot.HandTrack`'s layout (T frames × 2 hand slots × 21 joints),
so any keypoint source (MediaPipe, a learned detector, a retargeting check) is scored the same way:

* :func:`eligible_hands` — which GT hand-frames count (hand present, enough keypoints inside the image);
* :func:`match_hands` — which detection belongs to which GT hand: by position (optimal assignment, gated);
* :func:`keypoint_error_px` — mean joint distance;
* :func:`compare_track` / :func:`summarize` — the per-frame comparison of one clip, and totals over many.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from hoi2robot.contracts import NUM_JOINTS

__all__ = [
    "MATCH_GATE",
    "MIN_VISIBLE",
    "TrackComparison",
    "compare_track",
    "detection_rate",
    "eligible_hands",
    "keypoint_error_px",
    "match_hands",
    "summarize",
]

MIN_VISIBLE = 15  # a GT hand counts in a frame when at least this many of its 21 keypoints are inside the image


def _check(name: str, value: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != len(shape) or any(s is not None and a != s for a, s in zip(arr.shape, shape)):
        want = "×".join("T" if s is None else str(s) for s in shape)
        raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    return arr


def keypoint_error_px(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Mean Euclidean distance in pixels between ``...×21×2`` keypoint sets, over the ``visible`` joints.

    Args:
        pred, gt: ``...×21×2`` pixel keypoints (same leading shape).
        visible: optional ``...×21`` bool, the joints to average over (default all).

    Returns:
        ``...`` float64 array of mean errors (NaN where no joint is visible); a float for a single hand.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.shape[-2:] != (NUM_JOINTS, 2):
        raise ValueError(f"keypoint_error_px: expected two ...×{NUM_JOINTS}×2 arrays, got {pred.shape}, {gt.shape}")
    dist = np.linalg.norm(pred - gt, axis=-1)
    mask = np.ones(dist.shape, bool) if visible is None else np.broadcast_to(np.asarray(visible, bool), dist.shape)
    count = mask.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(count > 0, np.where(mask, dist, 0.0).sum(-1) / count, np.nan)
    return err if err.ndim else float(err)


def eligible_hands(
    visibility: np.ndarray, hand_present: np.ndarray | None = None, min_visible: int = MIN_VISIBLE
) -> np.ndarray:
    """T×2 bool: GT hand-frames with at least ``min_visible`` of the 21 keypoints visible (and the hand present).

    Args:
        visibility: T×2×21 bool, GT keypoint inside the image.
        hand_present: optional T×2 bool.
    """
    vis = _check("visibility", visibility, (None, 2, NUM_JOINTS)).astype(bool)
    ok = vis.sum(-1) >= min_visible
    if hand_present is not None:
        ok &= _check("hand_present", hand_present, (vis.shape[0], 2)).astype(bool)
    return ok


MATCH_GATE = 1.0  # a detection is that GT hand only when its mean joint distance is at most this × the hand's size


def match_hands(
    gt_keypoints: np.ndarray,
    gt_present: np.ndarray,
    det_keypoints: np.ndarray,
    det_valid: np.ndarray,
    gate: float = MATCH_GATE,
) -> tuple[np.ndarray, np.ndarray]:
    """Assign detected hands to GT hands, frame by frame, by where they are (as keypoint benchmarks match by
    position, not by label).

    Per frame the one-to-one assignment of present GT hands to valid detections with the most pairs and then the
    least summed mean joint distance wins; a pair counts only when that distance is at most ``gate`` × the GT hand's
    size (the larger side of its keypoints' box). The handedness MediaPipe gives is not used to match: a false hand
    labelled "right" (e.g. a red object) must not take the place of the real right hand that it labelled "left".

    Args:
        gt_keypoints: T×2×21×2 GT pixels; gt_present: T×2 bool.
        det_keypoints: T×2×21×2 detected pixels; det_valid: T×2 bool.
        gate: see above (> 0).

    Returns:
        ``det_slot`` T×2 int: the detection slot matched to each GT slot (-1 = none), and ``mislabelled`` T×2 bool:
        the matched detection sits in the other hand's slot (the detector got the handedness wrong).
    """
    gt = _check("gt_keypoints", gt_keypoints, (None, 2, NUM_JOINTS, 2))
    T = gt.shape[0]
    det = _check("det_keypoints", det_keypoints, (T, 2, NUM_JOINTS, 2))
    present = _check("gt_present", gt_present, (T, 2)).astype(bool)
    valid = _check("det_valid", det_valid, (T, 2)).astype(bool)
    if not gate > 0:
        raise ValueError(f"match_hands: gate must be > 0, got {gate!r}")
    # cost[t, g, d]: mean joint distance of detection d to GT hand g; inf where the pair is not allowed
    cost = np.linalg.norm(det[:, None] - gt[:, :, None], axis=-1).mean(-1)  # T×2(g)×2(d)
    size = np.maximum(np.ptp(gt, axis=2).max(-1), 1.0)  # T×2
    allowed = present[:, :, None] & valid[:, None, :] & (cost <= gate * size[:, :, None])
    cost = np.where(allowed, cost, np.inf)
    # the 7 partial one-to-one assignments of 2 GT hands to 2 detections, as (g0's det, g1's det), -1 = none
    options = [(-1, -1), (0, -1), (1, -1), (-1, 0), (-1, 1), (0, 1), (1, 0)]
    det_slot = np.full((T, 2), -1)
    for t in np.nonzero(allowed.any(axis=(1, 2)))[0]:
        best, best_key = (-1, -1), (0, 0.0)
        for opt in options:
            pairs = [(g, d) for g, d in enumerate(opt) if d >= 0]
            c = sum(cost[t, g, d] for g, d in pairs)
            if np.isfinite(c) and (len(pairs), -c) > (best_key[0], -best_key[1]):
                best, best_key = opt, (len(pairs), c)
        det_slot[t] = best
    mislabelled = (det_slot >= 0) & (det_slot != np.arange(2))
    return det_slot, mislabelled


def detection_rate(detected: np.ndarray, eligible: np.ndarray) -> float:
    """Fraction of ``eligible`` entries that are ``detected`` (NaN when nothing is eligible)."""
    detected, eligible = np.asarray(detected, bool), np.asarray(eligible, bool)
    n = int(eligible.sum())
    return float((detected & eligible).sum() / n) if n else float("nan")


@dataclass
class TrackComparison:
    """Per frame and GT hand slot: one clip's detections against its ground truth.

    Attributes:
        eligible: T×2 bool, the GT hand counts in this frame (see :func:`eligible_hands`).
        det_slot: T×2 int, the matched detection's slot, -1 when none (see :func:`match_hands`).
        mislabelled: T×2 bool, matched to a detection in the other hand's slot (wrong handedness).
        error_px: T×2 float64 mean keypoint error over the visible GT joints, NaN where unmatched.
        false_positives: T int, detections matched to no GT hand.
    """

    eligible: np.ndarray
    det_slot: np.ndarray
    mislabelled: np.ndarray
    error_px: np.ndarray
    false_positives: np.ndarray

    @property
    def detected(self) -> np.ndarray:
        """T×2 bool: the GT hand was matched to a detection."""
        return self.det_slot >= 0


def compare_track(
    gt_keypoints: np.ndarray,
    gt_visibility: np.ndarray,
    gt_present: np.ndarray,
    det_keypoints: np.ndarray,
    det_valid: np.ndarray,
    min_visible: int = MIN_VISIBLE,
) -> TrackComparison:
    """Compare detections with GT over one clip (shapes as in :func:`match_hands`; visibility T×2×21 bool)."""
    present = np.asarray(gt_present, bool)
    vis = np.asarray(gt_visibility, bool)
    det_slot, mislabelled = match_hands(gt_keypoints, present, det_keypoints, det_valid)
    T = det_slot.shape[0]
    rows = np.arange(T)[:, None]
    matched_det = np.asarray(det_keypoints)[rows, np.maximum(det_slot, 0)]  # T×2×21×2, junk where unmatched
    error = keypoint_error_px(matched_det, gt_keypoints, vis)
    error = np.where(det_slot >= 0, error, np.nan)
    used = np.zeros((T, 2), bool)
    for g in range(2):
        used[rows[:, 0], np.maximum(det_slot[:, g], 0)] |= det_slot[:, g] >= 0
    return TrackComparison(
        eligible=eligible_hands(vis, present, min_visible),
        det_slot=det_slot,
        mislabelled=mislabelled,
        error_px=error,
        false_positives=(np.asarray(det_valid, bool) & ~used).sum(1),
    )


def summarize(comparisons: Iterable[TrackComparison]) -> dict[str, float | int]:
    """Totals over clips: counts of eligible and detected hand-frames, detection rate, mean / median error in px
    on the detected eligible hand-frames, how many of those the detector gave the wrong handedness, false positives.
    """
    comps = list(comparisons)
    if not comps:
        eligible = detected = mislabelled = np.zeros(0, bool)
        errors, fps = np.zeros(0), 0
    else:
        eligible = np.concatenate([c.eligible.ravel() for c in comps])
        detected = np.concatenate([c.detected.ravel() for c in comps])
        mislabelled = np.concatenate([c.mislabelled.ravel() for c in comps])
        errors = np.concatenate([c.error_px.ravel() for c in comps])
        fps = int(sum(int(c.false_positives.sum()) for c in comps))
    hit = eligible & detected
    scored = errors[hit]
    n_hit = int(hit.sum())
    return {
        "eligible": int(eligible.sum()),
        "detected": n_hit,
        "detection_rate": detection_rate(detected, eligible),
        "mean_error_px": float(scored.mean()) if n_hit else float("nan"),
        "median_error_px": float(np.median(scored)) if n_hit else float("nan"),
        "mislabelled": int((mislabelled & hit).sum()),
        "mislabelled_rate": float((mislabelled & hit).sum() / n_hit) if n_hit else float("nan"),
        "false_positives": fps,
    }
