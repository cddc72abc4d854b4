"""The tasks' success checks as small functions of object poses and hand contact, mirroring robosuite's.

The engine's scene is a copy of the robot task's model with the robot hidden, so robosuite's own
``_check_success`` (which reads the robot's gripper) cannot run on it. Each check here takes the same thresholds
from the robosuite env the scene was built from (``rs``), and reads the engine's state through :class:`TaskState`.
``grasped`` stands for robosuite's ``_check_grasp`` (gripper fingers on the object) and ``hand_dist`` for the
distance of robosuite's gripper grip site from the object (PickPlace's "gripper away" condition).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["TaskState", "SUCCESS_CHECKS", "check_success"]

PICKPLACE_REACH_AWAY = np.arctanh(0.4) / 10.0  # m: robosuite's ``1 - tanh(10 d) < 0.6`` <=> d > 0.0424


@dataclass
class TaskState:
    """What a success check reads (world frame, metres).

    Attributes:
        pos: object key (TaskSpec.objects / targets) -> 3 position.
        grasped: object key -> whether the hand holds it (weld engaged or >= 2 hand geoms touching).
        touching: frozenset of object-key pairs in contact.
        hand_dist: object key -> distance of the hand's grasp point from the object.
    """

    pos: dict[str, np.ndarray]
    grasped: dict[str, bool]
    touching: frozenset
    hand_dist: dict[str, float]


def _lift(rs, s: TaskState) -> bool:
    return bool(s.pos["cube"][2] > rs.model.mujoco_arena.table_offset[2] + 0.04)


def _stack(rs, s: TaskState) -> bool:
    lifted = s.pos["cubeA"][2] > rs.table_offset[2] + 0.04
    touching = frozenset(("cubeA", "cubeB")) in s.touching
    return bool(lifted and touching and not s.grasped["cubeA"])


def _pickplace_can(rs, s: TaskState) -> bool:
    in_bin = not rs.not_in_bin(s.pos["can"], rs.object_to_id["can"])
    return bool(in_bin and s.hand_dist["can"] > PICKPLACE_REACH_AWAY)


def _push(rs, s: TaskState) -> bool:
    cube, target = s.pos["cube"], s.pos["target"]
    inside = np.linalg.norm(cube[:2] - target[:2]) < rs.target_radius
    resting = cube[2] < rs.table_offset[2] + rs.cube.size[2] + rs.REST_TOLERANCE
    return bool(inside and resting and not s.grasped["cube"])


SUCCESS_CHECKS: dict[str, Callable] = {"Lift": _lift, "Stack": _stack, "PickPlaceCan": _pickplace_can, "Push": _push}


def check_success(task: str, rs, state: TaskState) -> bool:
    """robosuite's success check of ``task`` (thresholds from the robosuite env ``rs``) on ``state``."""
    return SUCCESS_CHECKS[task](rs, state)
