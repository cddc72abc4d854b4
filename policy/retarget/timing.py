"""Resampling, gripper dwells and time scaling of a pose + gripper sequence to speed/acceleration limits."""
from __future__ import annotations

import numpy as np

__all__ = ["resample", "insert_dwells", "time_scale", "quat_angle"]


def quat_angle(q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Rotation angle (rad) between rows of N×4 unit quaternions."""
    d = np.abs(np.sum(np.asarray(q0) * np.asarray(q1), axis=-1))
    return 2.0 * np.arccos(np.clip(d, -1.0, 1.0))


def _slerp_rows(q: np.ndarray, t_src: np.ndarray, t_new: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation, Slerp

    if len(t_src) == 1:
        return np.repeat(q[:1], len(t_new), axis=0)
    rot = Rotation.from_quat(q[:, [1, 2, 3, 0]])  # scipy: x, y, z, w
    out = Slerp(t_src, rot)(np.clip(t_new, t_src[0], t_src[-1])).as_quat()
    out = out[:, [3, 0, 1, 2]]
    # keep a continuous sign (same hemisphere as the previous sample)
    for i in range(1, len(out)):
        if out[i] @ out[i - 1] < 0:
            out[i] = -out[i]
    return out


def resample(t: np.ndarray, pos: np.ndarray, quat: np.ndarray, grip: np.ndarray, dt: float):
    """Resample at ``dt``: positions by PCHIP (no overshoot), orientations by slerp, the gripper by zero-order hold
    (a switch happens at the first sample at or after the frame where it switched). Returns (t, pos, quat, grip)."""
    from scipy.interpolate import PchipInterpolator

    t = np.asarray(t, float)
    if len(t) < 2:
        return t.copy(), pos.copy(), quat.copy(), grip.copy()
    n = int(np.floor((t[-1] - t[0]) / dt + 1e-9)) + 1
    tn = t[0] + dt * np.arange(n)
    if tn[-1] < t[-1] - 1e-9:
        tn = np.append(tn, t[-1])
    pn = PchipInterpolator(t, pos, axis=0)(tn)
    qn = _slerp_rows(quat, t, tn)
    idx = np.clip(np.searchsorted(t, tn + 1e-9, side="right") - 1, 0, len(t) - 1)
    return tn, pn, qn, np.asarray(grip, float)[idx]


def insert_dwells(t, pos, quat, grip, close_s: float, open_s: float):
    """Hold the pose for ``close_s`` / ``open_s`` seconds at every gripper close / open switch: the sample where the
    command changes is repeated after the wait, and later samples are shifted. Returns (t, pos, quat, grip)."""
    t = np.asarray(t, float).copy()
    keep_t, keep = [], []
    shift = 0.0
    for i in range(len(t)):
        if i > 0 and grip[i] != grip[i - 1]:
            wait = close_s if grip[i] > grip[i - 1] else open_s
            if wait > 0:
                # the command switches at the previous pose, which is held while the fingers move
                keep_t.append(t[i - 1] + shift + 1e-3)
                keep.append((pos[i - 1], quat[i - 1], grip[i]))
                shift += wait
        keep_t.append(t[i] + shift)
        keep.append((pos[i], quat[i], grip[i]))
    tt = np.array(keep_t)
    return (tt, np.array([k[0] for k in keep]), np.array([k[1] for k in keep]), np.array([k[2] for k in keep], float))


def time_scale(t, pos, quat, grip, max_speed: float, max_angular_speed: float, max_accel: float,
               speed_scale: float = 1.0, iterations: int = 30):
    """Stretch segment durations so that speed, angular speed and acceleration stay under their limits.

    Every segment keeps at least its original duration / ``speed_scale``; then segments faster than ``max_speed``
    (m/s) or ``max_angular_speed`` (rad/s) are lengthened; then, iteratively, pairs of segments whose velocity change
    exceeds ``max_accel`` (m/s²) are lengthened together. Returns the new timestamps (the poses are unchanged)."""
    t = np.asarray(t, float)
    if len(t) < 2:
        return t.copy()
    dp = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    da = quat_angle(quat[:-1], quat[1:])
    dur = np.maximum.reduce([np.diff(t) / speed_scale, dp / max_speed, da / max_angular_speed, np.full(len(dp), 1e-3)])
    vel = np.diff(pos, axis=0)
    for _ in range(iterations):
        v = vel / dur[:, None]
        mid = 0.5 * (dur[1:] + dur[:-1])
        acc = np.linalg.norm(np.diff(v, axis=0), axis=1) / mid
        bad = acc > max_accel * 1.001
        if not bad.any():
            break
        f = np.sqrt(acc[bad] / max_accel)
        grow = np.ones(len(dur))
        ib = np.flatnonzero(bad)
        grow[ib] = np.maximum(grow[ib], np.minimum(f, 2.0))
        grow[ib + 1] = np.maximum(grow[ib + 1], np.minimum(f, 2.0))
        dur = dur * grow
    # from rest and to rest: the first and last segment also respect the acceleration limit
    return t[0] + np.concatenate([[0.0], np.cumsum(dur)])
