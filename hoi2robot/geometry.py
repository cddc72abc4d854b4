"""Rotation helpers shared by every stage (quaternions are (w, x, y, z), MuJoCo's convention)."""
from __future__ import annotations

import mujoco
import numpy as np

__all__ = ["quat_to_mat", "rotation_vector", "pose_matrix"]


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """3×3 rotation matrix of quaternion ``q`` (w, x, y, z; normalized here)."""
    q = np.asarray(q, dtype=np.float64)
    R = np.empty(9)
    mujoco.mju_quat2Mat(R, q / np.linalg.norm(q))
    return R.reshape(3, 3)


def rotation_vector(R: np.ndarray) -> np.ndarray:
    """Axis-angle vector (3,) of rotation matrix ``R``."""
    q, v = np.empty(4), np.empty(3)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R, dtype=np.float64).ravel())
    mujoco.mju_quat2Vel(v, q, 1.0)
    return v


def pose_matrix(position: np.ndarray, quat_wxyz: np.ndarray) -> np.ndarray:
    """4×4 homogeneous transform from a position (3,) and a quaternion (w, x, y, z)."""
    T = np.eye(4)
    T[:3, :3] = quat_to_mat(quat_wxyz)
    T[:3, 3] = position
    return T
