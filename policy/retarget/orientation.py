"""Gripper orientation from the hand: top-down with the closing axis' yaw, or the full palm frame."""
from __future__ import annotations

import numpy as np

from hoi2robot.geometry import quat_to_mat

__all__ = ["GRIPPER_DOWN_QUAT", "topdown_quat", "closing_yaw", "palm_quats", "mat_to_quat", "quat_to_mat"]

# The Panda grip site's home orientation in the base frame (pointing down, fingers closing along base y): the same
# value as sim.tasks.gym_env.GRIPPER_DOWN_QUAT, repeated so the retargeter does not import the simulator.
GRIPPER_DOWN_QUAT = np.array([0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0])


def mat_to_quat(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(np.asarray(R, float)).as_quat()
    q = np.array([w, x, y, z])
    return q if q @ GRIPPER_DOWN_QUAT >= 0 else -q


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def topdown_quat(yaw: float) -> np.ndarray:
    """Gripper pointing down, turned by ``yaw`` (rad) about the base z axis from its home orientation."""
    return mat_to_quat(rot_z(yaw) @ quat_to_mat(GRIPPER_DOWN_QUAT))


def closing_yaw(axis_xy: np.ndarray) -> float:
    """The top-down gripper yaw whose fingers close along the horizontal direction ``axis_xy`` (at yaw 0 they close
    along base y), wrapped to [-π/2, π/2): the gripper is symmetric under a half turn."""
    yaw = float(np.arctan2(-axis_xy[0], axis_xy[1]))
    return (yaw + np.pi / 2) % np.pi - np.pi / 2


def palm_quats(kp_base: np.ndarray) -> np.ndarray:
    """T×4 gripper quaternions from the palm frame of T×21×3 base-frame keypoints.

    Palm frame: ``a`` = wrist → middle MCP (the fingers' direction), ``n`` = palm normal (index MCP − pinky MCP)
    × ``a`` oriented so a flat palm-down hand has ``n`` pointing down; gripper approach (its z axis) = ``n``, its
    closing axis (y) = across the palm. A flat palm-down hand with fingers along base x gives the home gripper.
    """
    out = np.empty((len(kp_base), 4))
    for i, k in enumerate(kp_base):
        a = k[9] - k[0]
        a /= np.linalg.norm(a) + 1e-12
        across = k[5] - k[17]
        n = np.cross(across, a)
        if n[2] > 0:  # palm normal points to the palm side, assumed to face down/away
            n = -n
        n /= np.linalg.norm(n) + 1e-12
        y = np.cross(n, a)
        y /= np.linalg.norm(y) + 1e-12
        x = np.cross(y, n)
        out[i] = mat_to_quat(np.column_stack([-y, x, n]))  # home gripper: x_g = across the palm, y_g = fingers
    return out
