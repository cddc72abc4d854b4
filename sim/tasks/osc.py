"""The tasks' action space: 7-D operational-space deltas (robosuite's default Panda OSC), and how to aim it at a pose.

``action[:3]`` moves the gripper by up to :data:`MAX_DPOS` metres per step, ``action[3:6]`` rotates it by up to
:data:`MAX_DROT` radians (axis-angle, base frame), ``action[6]`` is the gripper (-1 open ... +1 closed).
"""
from __future__ import annotations

import numpy as np

from hoi2robot.geometry import rotation_vector

__all__ = ["MAX_DPOS", "MAX_DROT", "pose_delta_action"]

MAX_DPOS = 0.05  # m per step that a position action of 1 commands (robosuite's default_panda.json output_max)
MAX_DROT = 0.5  # rad per step that a rotation action of 1 commands (same)


def pose_delta_action(
    p: np.ndarray, R: np.ndarray, p_des: np.ndarray, R_des: np.ndarray, gain: float = 1.0
) -> np.ndarray:
    """(6,) position + rotation action, each clipped to [-1, 1], that moves the gripper at ``p``, ``R`` towards
    ``p_des``, ``R_des`` (base frame); ``gain`` scales the position part before clipping."""
    a = np.empty(6)
    a[:3] = np.clip(gain * (np.asarray(p_des) - p) / MAX_DPOS, -1.0, 1.0)
    a[3:6] = np.clip(rotation_vector(R_des @ np.asarray(R).T) / MAX_DROT, -1.0, 1.0)
    return a
