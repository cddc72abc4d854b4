"""The ``policy`` hoi-bench row: a trained imitation policy run closed loop.

The checkpoint comes from ``$HOI2ROBOT_POLICY`` (a checkpoint or run folder; ``{task}`` in it is replaced by the
task name, e.g. ``HOI2ROBOT_POLICY=runs/policy/{task}_dp``), else from :data:`DEFAULT_POLICY_DIR`
``/<task>``. A checkpoint trained on another task is refused.

    HOI2ROBOT_POLICY='runs/policy/{task}_bc' hoi-bench rows=[policy] tasks=[Lift] seeds=50 seed_offset=1000
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sim.bench import register_row

__all__ = ["DEFAULT_POLICY_DIR", "policy_path", "policy_row"]

DEFAULT_POLICY_DIR = Path("runs/policy/bench")  # <dir>/<task>: run or checkpoint folder
_RUNNERS: dict[str, Any] = {}  # one loaded policy per checkpoint and process (bench workers run many seeds)


def policy_path(task: str) -> Path:
    """Where the ``policy`` row loads the checkpoint for ``task`` from (see the module doc)."""
    env = os.environ.get("HOI2ROBOT_POLICY")
    return Path(env.replace("{task}", task)) if env else DEFAULT_POLICY_DIR / task


@register_row("policy")
def policy_row(env: Any, task: str, seed: int, record: list | None) -> dict:
    """A BC / diffusion policy from a checkpoint (``$HOI2ROBOT_POLICY``), closed loop: isolates learning."""
    from policy.evaluate import PolicyRunner, rollout

    path = policy_path(task)
    key = str(path.resolve())
    if key not in _RUNNERS:
        if not path.exists():
            raise FileNotFoundError(
                f"policy row: no checkpoint for task {task!r} at {path}; train one with hoi-train-policy and point "
                "HOI2ROBOT_POLICY at it ('{task}' in the path is replaced by the task name)"
            )
        _RUNNERS[key] = PolicyRunner(path)
    runner = _RUNNERS[key]
    if runner.task and runner.task != task:
        raise ValueError(f"policy row: checkpoint {runner.checkpoint} was trained on {runner.task!r}, not {task!r}")
    return rollout(env, runner, seed, record)
