"""sim.experts: each scripted expert solves its task on a few seeds; run_episode's contract."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from sim.experts import EXPERTS, make_expert, run_episode  # noqa: E402
from sim.tasks import TASKS, make_env  # noqa: E402

SEEDS = (100, 101, 102)  # not the seeds of the 50-seed measurement (0-49)
pytestmark = pytest.mark.xdist_group("sim_experts")  # one worker per sim test file


@pytest.mark.parametrize("task", list(TASKS))
def test_expert_succeeds(task):
    env = make_env(task)
    expert = make_expert(task)
    for seed in SEEDS:
        result = run_episode(env, expert, seed=seed)
        assert result["success"], f"{task} seed {seed}: {result} (ended in phase {expert.phase})"
        assert 0 < result["steps"] < env.horizon and result["return"] >= 1.0
    env.close()


def test_every_task_has_an_expert():
    assert set(EXPERTS) == set(TASKS)
    with pytest.raises(ValueError, match="Lift"):
        make_expert("Pour")


def test_run_episode_records_frames_and_is_deterministic():
    env = make_env("Lift", render_mode="rgb_array", image_size=(32, 32))
    frames: list[np.ndarray] = []
    a = run_episode(env, make_expert("Lift"), seed=3, record=frames, max_steps=5, stop_on_success=False)
    b = run_episode(env, make_expert("Lift"), seed=3, max_steps=5, stop_on_success=False)
    assert a["steps"] == 5 and len(frames) == 6 and frames[0].shape == (32, 32, 3)
    assert {k: a[k] for k in ("success", "steps", "return")} == {k: b[k] for k in ("success", "steps", "return")}
    with pytest.raises(ValueError, match="render_mode"):
        run_episode(make_env("Lift"), make_expert("Lift"), seed=0, record=[])
    env.close()
