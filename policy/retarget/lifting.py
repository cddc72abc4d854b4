"""2D keypoints → 3D: PnP of MediaPipe's metric world landmarks, and the depth scale from a depth image or a plane.

All functions work in the camera frame (OpenCV axes) unless they say otherwise; ``CameraModel`` converts to the robot
base frame.
"""
from __future__ import annotations

import numpy as np

from hoi2robot.contracts import CameraModel

__all__ = ["pnp_hand", "sample_depth", "plane_depth", "to_base"]


def pnp_hand(kp2: np.ndarray, world: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, float]:
    """Place the 21×3 hand-centred metric ``world`` landmarks in the camera frame so they project onto ``kp2``.

    Returns (21×3 camera-frame points, mean reprojection error in pixels). OpenCV's ``solvePnP`` (SQPnP, then
    Levenberg–Marquardt refinement) solves rotation and translation; the hand's size is MediaPipe's estimate, so the
    depth is right up to that scale (multiplying all points by ``s`` keeps their projections). A frame PnP cannot
    solve (no solution, the mirror one behind the camera, or landmarks too collapsed for SQPnP, which a generated
    blob-like hand can give) returns NaN points and an infinite error, so the caller rejects it as an outlier.
    """
    import cv2

    obj = np.ascontiguousarray(world, dtype=np.float64).reshape(-1, 1, 3)
    img = np.ascontiguousarray(kp2, dtype=np.float64).reshape(-1, 1, 2)
    K = np.asarray(K, np.float64)
    try:
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:  # SQPnP asserts on degenerate (near-coincident or collinear) landmarks
        ok = False
    if not ok:
        return np.full((len(world), 3), np.nan), float("inf")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, None, rvec, tvec)
    R, _ = cv2.Rodrigues(rvec)
    pts = world @ R.T + tvec.reshape(1, 3)
    if np.median(pts[:, 2]) <= 0:  # behind the camera: the mirror solution
        return np.full((len(world), 3), np.nan), float("inf")
    uv = pts @ K.T
    uv = uv[:, :2] / uv[:, 2:3]
    return pts, float(np.linalg.norm(uv - kp2, axis=1).mean())


def sample_depth(depth: np.ndarray, uv: np.ndarray, window: int, lo: float, hi: float, percentile: float = 50.0) -> np.ndarray:
    """Metric depth of an H×W (or H×W×1) ``depth`` image in a (2·window+1)² box around each N×2 pixel ``uv``: the
    median, or another ``percentile`` (a low one picks the nearest surface: an object in front of the table); NaN where
    the box is outside the image or holds no depth in [lo, hi]."""
    d = np.asarray(depth, np.float64)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    H, W = d.shape
    out = np.full(len(uv), np.nan)
    for i, (u, v) in enumerate(np.asarray(uv, np.float64)):
        if not np.isfinite(u) or not np.isfinite(v):
            continue
        c, r = int(round(u)), int(round(v))
        patch = d[max(r - window, 0) : min(r + window + 1, H), max(c - window, 0) : min(c + window + 1, W)]
        patch = patch[(patch >= lo) & (patch <= hi)]
        if patch.size:
            out[i] = float(np.percentile(patch, percentile))
    return out


def plane_depth(camera: CameraModel, uv: np.ndarray, height: float) -> float:
    """Camera z-depth at which the ray through pixel ``uv`` meets the horizontal plane z = ``height`` (base frame);
    NaN if the ray is parallel to it or meets it behind the camera."""
    ray_c = np.linalg.solve(camera.K, np.array([uv[0], uv[1], 1.0]))  # camera frame, z = 1
    R, t = camera.base_T_cam[:3, :3], camera.base_T_cam[:3, 3]
    dz = (R @ ray_c)[2]
    if abs(dz) < 1e-9:
        return float("nan")
    z = (height - t[2]) / dz
    return float(z) if z > 0 else float("nan")


def to_base(camera: CameraModel, pts_cam: np.ndarray) -> np.ndarray:
    """...×3 camera-frame points → robot base frame."""
    R, t = camera.base_T_cam[:3, :3], camera.base_T_cam[:3, 3]
    return pts_cam @ R.T + t
