"""Simulated tasks: robosuite Lift, Stack, PickPlaceCan and Push with a Panda under OSC pose control.

Importing this package registers the gymnasium ids ``hoi2robot/<Task>-v0``::

    import gymnasium, sim.tasks
    env = gymnasium.make("hoi2robot/Lift-v0", cameras=("egoview",), image_size=(128, 128))
    # or: env = sim.tasks.make_env("Lift", cameras=("egoview",))
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    info["success"], env.unwrapped.instruction, env.unwrapped.camera_model("egoview")

Modules: :mod:`~sim.tasks.specs` (all task parameters), :mod:`~sim.tasks.scenes` (the robosuite environments),
:mod:`~sim.tasks.cameras` (CameraModel, depth, render settings), :mod:`~sim.tasks.gym_env` (the gymnasium env).
"""
from __future__ import annotations

import gymnasium

from sim.tasks import _robosuite  # noqa: F401  (quiet robosuite import, first)
from sim.tasks.cameras import RenderSettings, camera_model, depth_to_metres
from sim.tasks.gym_env import HoiTaskEnv, make_env
from sim.tasks.specs import CAMERAS, TASKS, TaskSpec, get_spec

__all__ = [
    "CAMERAS",
    "TASKS",
    "HoiTaskEnv",
    "RenderSettings",
    "TaskSpec",
    "camera_model",
    "depth_to_metres",
    "env_id",
    "get_spec",
    "make_env",
]


def env_id(task: str) -> str:
    """The gymnasium id of ``task``, e.g. ``"hoi2robot/Lift-v0"``."""
    return f"hoi2robot/{get_spec(task).name}-v0"


for _name in TASKS:
    if env_id(_name) not in gymnasium.registry:
        gymnasium.register(id=env_id(_name), entry_point="sim.tasks.gym_env:HoiTaskEnv", kwargs={"task": _name})
