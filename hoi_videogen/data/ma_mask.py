"""HANDI's motion-area (MA) mask from hand keypoints: where the hands move during a clip.

The MA is the union over frames and hands of the filled convex hull of the (visible) hand keypoints. Pixels are
OpenCV's (integer coordinates at pixel centres); a pixel is in the mask when its centre lies in (or on) a hull,
after the hull is clipped to the image and its vertices rounded to whole pixels (OpenCV's polygon fill).
"""
from __future__ import annotations

import cv2
import numpy as np

from hoi2robot.contracts import NUM_JOINTS

__all__ = ["motion_area_mask", "hull_mask"]


def hull_mask(points: np.ndarray, height: int, width: int, out: np.ndarray | None = None) -> np.ndarray:
    """Fill the convex hull of N×2 pixel points ``(u, v)`` into an H×W uint8 mask (1 inside); returns the mask.

    The hull is clipped to the image before filling, so points far outside the image are fine. Hulls of one point
    mark that pixel (if inside the image), of two or collinear points the segment between them.
    """
    mask = np.zeros((height, width), np.uint8) if out is None else out
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    if len(pts) == 0:
        return mask
    hull = cv2.convexHull(pts).reshape(-1, 2)
    if len(hull) == 1:
        u, v = np.round(hull[0]).astype(int)
        if 0 <= u < width and 0 <= v < height:
            mask[v, u] = 1
        return mask
    image = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    _, clipped = cv2.intersectConvexConvex(hull, image)  # handles segments too; None when disjoint
    if clipped is not None:
        cv2.fillConvexPoly(mask, np.round(clipped.reshape(-1, 2)).astype(np.int32), 1)
    return mask


def motion_area_mask(
    keypoints_2d: np.ndarray, valid: np.ndarray, height: int, width: int, dilate_px: int = 0
) -> np.ndarray:
    """The motion area of a clip: union over frames and hands of the filled convex hull of the valid keypoints.

    Args:
        keypoints_2d: T×2×21×2 pixel keypoints ``(u, v)`` (hand slots as in :class:`hoi2robot.HandTrack`).
        valid: T×2 (whole hands) or T×2×21 (per keypoint, e.g. ``HOIClip.visibility``) booleans; only valid
            keypoints enter the hulls.
        height, width: image size in pixels.
        dilate_px: grow the mask by this many pixels (elliptical structuring element); 0 = none.

    Returns:
        H×W float32 mask with values in {0, 1}.
    """
    kp = np.asarray(keypoints_2d)
    if kp.ndim != 4 or kp.shape[1:] != (2, NUM_JOINTS, 2):
        raise ValueError(f"motion_area_mask: keypoints_2d must be T×2×{NUM_JOINTS}×2, got shape {kp.shape}")
    if not np.isfinite(kp).all():
        raise ValueError("motion_area_mask: keypoints_2d must be finite")
    valid = np.asarray(valid)
    if valid.shape == kp.shape[:2]:
        valid = np.repeat(valid[..., None], NUM_JOINTS, axis=-1)
    if valid.shape != kp.shape[:3]:
        raise ValueError(
            f"motion_area_mask: valid must be T×2 or T×2×{NUM_JOINTS} for {kp.shape[0]} frames, got {valid.shape}"
        )
    for name, value, least in (("height", height, 1), ("width", width, 1), ("dilate_px", dilate_px, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"motion_area_mask: {name} must be an integer >= {least}, got {value!r}")
    mask = np.zeros((int(height), int(width)), np.uint8)
    valid = valid.astype(bool)
    for t, hand in zip(*np.nonzero(valid.any(axis=-1))):
        hull_mask(kp[t, hand][valid[t, hand]], mask.shape[0], mask.shape[1], out=mask)
    if dilate_px:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        mask = cv2.dilate(mask, kernel)
    return mask.astype(np.float32)
