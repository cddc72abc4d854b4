"""Task specifications: every per-task parameter of the simulated tasks, in one place.

A :class:`TaskSpec` names the robosuite scene class that builds the task, the instruction, the horizon, where
objects are placed, which bodies the observation tracks and where the egocentric camera looks. The Hydra files
``configs/task/<name>.yaml`` mirror ``name``, ``horizon`` and ``instruction`` (a test keeps them in sync).

World frame: robosuite's (z up, floor at z = 0). The table-top tasks have the table top at z = 0.8 and the Panda
base at (-0.56, 0, 0.912); PickPlaceCan has its bins at z = 0.8 and the base at (-0.5, -0.1, 0.912).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

__all__ = [
    "CAMERAS",
    "CONTROL_FREQ",
    "EgoviewSpec",
    "EGOVIEW",
    "Placement",
    "TaskSpec",
    "TASKS",
    "get_spec",
]

CONTROL_FREQ = 20  # Hz: one env step = 50 ms = 25 MuJoCo steps of 2 ms
ROBOT = "Panda"
CAMERAS: tuple[str, ...] = ("agentview", "egoview")  # cameras an env may render


@dataclass(frozen=True)
class EgoviewSpec:
    """Where a person standing at the table on the robot's side looks from.

    Attributes:
        back: metres behind the robot base (along the base's -x) of the eye point.
        height: eye height above the floor in metres.
        fovy: vertical field of view in degrees.
    """

    back: float = 0.15
    height: float = 1.6
    fovy: float = 45.0


EGOVIEW = EgoviewSpec()


@dataclass(frozen=True)
class Placement:
    """Uniform object placement on the table (robosuite ``UniformRandomSampler`` around the table-top centre).

    Attributes:
        x_range, y_range: (low, high) offsets in metres of object centres from the table-top centre.
        rotation: z-rotation range (low, high) in radians; None = uniform over a full turn.
    """

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    rotation: tuple[float, float] | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One simulated task.

    Attributes:
        name: task name (the gymnasium id is ``hoi2robot/<name>-v0``).
        scene: name of the robosuite scene class in :mod:`sim.tasks.scenes` that builds it.
        instruction: the task-level default instruction.
        horizon: default episode length in env steps (episodes are truncated there, never terminated on success).
        objects: observation prefix -> MuJoCo body of a movable object; gives ``<p>_pos`` (3), ``<p>_quat``
            (4, wxyz) and ``gripper_to_<p>_pos`` (3, object minus gripper).
        targets: observation prefix -> MuJoCo body marking a goal; gives ``<p>_pos`` (3).
        relations: pairs ``(a, b)`` giving ``<a>_to_<b>_pos`` = position of b minus position of a (3).
        look_at: world point (3) the egocentric camera looks at (the workspace centre).
        egoview: the egocentric camera's eye point and field of view.
        placement: object placement; None keeps robosuite's own (PickPlace samples inside its bin).
        scene_kwargs: extra keyword arguments of the scene class.
    """

    name: str
    scene: str
    instruction: str
    horizon: int
    objects: Mapping[str, str]
    targets: Mapping[str, str] = field(default_factory=dict)
    relations: tuple[tuple[str, str], ...] = ()
    look_at: tuple[float, float, float] = (0.0, 0.0, 0.8)
    egoview: EgoviewSpec = EGOVIEW
    placement: Placement | None = None
    scene_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = set(self.objects) | set(self.targets)
        for a, b in self.relations:
            if a not in known or b not in known:
                raise ValueError(f"TaskSpec {self.name}: relation ({a}, {b}) names an unknown object or target")
        for name in ("objects", "targets", "scene_kwargs"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


_TASKS = (
    TaskSpec(
        name="Lift",
        scene="HoiLift",
        instruction="pick up the red cube",
        horizon=200,
        objects={"cube": "cube_main"},
        placement=Placement(x_range=(-0.03, 0.03), y_range=(-0.03, 0.03)),  # robosuite's Lift ranges
    ),
    TaskSpec(
        name="Stack",
        scene="HoiStack",
        instruction="stack the red cube on the green cube",
        horizon=400,
        objects={"cubeA": "cubeA_main", "cubeB": "cubeB_main"},  # A: red 4 cm cube, B: green 5 cm cube
        relations=(("cubeA", "cubeB"),),
        placement=Placement(x_range=(-0.08, 0.08), y_range=(-0.08, 0.08)),  # robosuite's Stack ranges
    ),
    TaskSpec(
        name="PickPlaceCan",
        scene="HoiPickPlaceCan",
        instruction="pick up the can and put it in the bin",
        horizon=400,
        objects={"can": "Can_main"},
        targets={"target": "VisualCan_main"},  # centre of the can's quarter of the target bin
        relations=(("can", "target"),),
        look_at=(0.1, 0.015, 0.8),  # between the two bins
        # The bins span ~1 m across: at 45° the can's bin is cut by the image's right edge and some picks happened
        # with most of the hand outside the image (48 validation clips: 652 frames with >= 15 of 21 keypoints in
        # view at 45°, 764 at 55°); the hand is smaller at 55°.
        egoview=EgoviewSpec(fovy=55.0),
    ),
    TaskSpec(
        name="Push",
        scene="HoiPush",
        instruction="push the cube into the target",
        horizon=250,
        objects={"cube": "cube_main"},
        targets={"target": "push_target_main"},
        relations=(("cube", "target"),),
        placement=Placement(x_range=(-0.10, 0.0), y_range=(-0.10, 0.10)),
        scene_kwargs={
            "target_radius": 0.05,  # m: the flat disc; success = cube centre inside it
            "target_distance": (0.12, 0.18),  # m: disc centre from the cube's start (must be pushed >= 7 cm)
            "target_angle": (-0.75 * math.pi, 0.75 * math.pi),  # rad from +x: never straight at the robot
            "target_bounds": ((-0.20, 0.25), (-0.25, 0.25)),  # x, y limits of the disc centre on the table
        },
    ),
)

TASKS: Mapping[str, TaskSpec] = MappingProxyType({t.name: t for t in _TASKS})


def get_spec(task: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``task``; raises ValueError naming the valid tasks."""
    try:
        return TASKS[task]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}") from None
