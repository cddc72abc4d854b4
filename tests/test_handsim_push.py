"""The engine's closed-loop push (sim.handsim.demos.Player._follow): it stops on the true cube→goal distance, keeps
re-aiming a cube that drifted sideways, stops on a real overshoot, and real Push demos end on the disc centre;
PickPlaceCan demos use the right hand (sim.handsim.engine.TASK_SIDE)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("robosuite")

from sim.handsim.demos import PUSH_OVERSHOOT, Plan, Player  # noqa: E402
from sim.handsim.engine import EngineConfig, choose_side, demo_rng  # noqa: E402
from sim.handsim.pose import PRESETS  # noqa: E402

pytestmark = pytest.mark.xdist_group("engine")
GOAL = np.array([0.10, 0.0, 0.83])


class _Hand:
    """Stands in for a HandModel: the pushing fingertips (keypoints 8 and 12) sit at ``tips``."""

    body_id = 0

    def __init__(self, tips):
        self.tips = np.asarray(tips, float)

    def keypoints(self, data):
        return np.tile(self.tips, (21, 1))


def _player(cube_xy, tips_xy, goal_tol=0.008):
    """A Player on a stub scene: the cube at ``cube_xy``, pushed along +x towards :data:`GOAL`."""
    xpos = np.zeros((2, 3))
    xpos[1] = (*cube_xy, GOAL[2])
    hand = _Hand((*tips_xy, GOAL[2]))
    scene = SimpleNamespace(task="Push", world_T_base=np.eye(4), data=SimpleNamespace(xpos=xpos),
                            obj_body={"cube": 1}, hands={"right": hand})  # fmt: skip
    plan = Plan(np.zeros(3), np.array([1.0, 0, 0, 0]), PRESETS["relaxed"], [], "cube", "push", goal=GOAL.copy(),
                standoff=0.03, lean=np.deg2rad(45), push_speed=0.1, goal_tol=goal_tol)  # fmt: skip
    player = Player(scene, "right", plan)
    player._push_dir = np.array([1.0, 0.0])  # the push started on the x axis, towards the goal
    return player, scene


def test_push_keeps_going_when_the_cube_drifted_sideways():
    # 5 mm short of the goal along the push line but 2.5 cm to the side: the old stop condition (along-line distance
    # below the tolerance) held here, 2.5 cm from the centre; the push must go on, towards the side the cube is off.
    player, scene = _player(cube_xy=(GOAL[0] - 0.005, 0.025), tips_xy=(GOAL[0] - 0.035, 0.025))
    gp = np.array([GOAL[0] - 0.04, 0.025, 0.9])
    new_gp, _ = player._follow(gp, np.array([1.0, 0, 0, 0]))
    assert player.push_stopped is None
    assert np.linalg.norm(new_gp - gp) > 1e-4
    assert new_gp[1] > gp[1]  # round to behind the cube on its line to the goal (cube at y = 2.5 cm, goal at 0)


def test_push_stops_at_the_goal_and_stays_stopped():
    player, scene = _player(cube_xy=(GOAL[0] - 0.005, 0.003), tips_xy=(GOAL[0] - 0.035, 0.003))
    gp, q = np.array([GOAL[0] - 0.04, 0.003, 0.9]), np.array([1.0, 0, 0, 0])
    assert np.array_equal(player._follow(gp, q)[0], gp)
    assert player.push_stopped == "goal"
    scene.data.xpos[1, 1] = 0.03  # the cube slides off afterwards: the hand does not start again
    assert np.array_equal(player._follow(gp, q)[0], gp)


def test_push_stops_on_a_real_overshoot_only():
    gp, q = np.array([GOAL[0] - 0.02, 0.02, 0.9]), np.array([1.0, 0, 0, 0])
    player, _ = _player(cube_xy=(GOAL[0] + 0.5 * PUSH_OVERSHOOT, 0.02), tips_xy=(GOAL[0] - 0.02, 0.02))
    player._follow(gp, q)
    assert player.push_stopped is None  # just past the goal along the line, 2 cm to the side: still correcting
    player, _ = _player(cube_xy=(GOAL[0] + 2 * PUSH_OVERSHOOT, 0.02), tips_xy=(GOAL[0] - 0.02, 0.02))
    assert np.array_equal(player._follow(gp, q)[0], gp)
    assert player.push_stopped == "overshoot"


@pytest.mark.parametrize("seed", [2, 3])
def test_push_demos_end_near_the_disc_centre(seed):
    # seeds 2 and 3 ended 5.0 and 4.4 cm from the disc centre with the along-line stop (seed 2 outside the disc)
    from sim.handsim.check_success import run_demo

    ok, scene, player = run_demo("Push", seed)
    d = scene.data
    dist = np.linalg.norm(d.xpos[scene.obj_body["cube"]][:2] - d.xpos[scene.obj_body["target"]][:2])
    assert ok
    assert dist < 0.015, f"cube ended {100 * dist:.1f} cm from the disc centre"


def test_pickplacecan_uses_the_right_hand_other_tasks_vary():
    cfg = EngineConfig()
    assert {choose_side("PickPlaceCan", demo_rng("PickPlaceCan", s), cfg) for s in range(30)} == {"right"}
    assert {choose_side("Lift", demo_rng("Lift", s), cfg) for s in range(30)} == {"left", "right"}
    rng_a, rng_b = demo_rng("PickPlaceCan", 4), demo_rng("PickPlaceCan", 4)
    choose_side("PickPlaceCan", rng_a, cfg)
    rng_b.random()
    assert rng_a.random() == rng_b.random()  # one draw either way: the rest of the randomization is unchanged


def test_push_hand_never_pushes_out_towards_its_own_side():
    # Left hands pushing a cube to the left (reaching round it across the body) were missed by MediaPipe in 36 of 60
    # frames (seeds 13, 16, 18, 21 of the 24-clip validation); the other hand pushes those from the outside.
    from sim.handsim.engine import PUSH_OUTWARD, get_scene

    scene, cfg, sides = get_scene("Push"), EngineConfig(), set()
    for seed in range(24):
        scene.reset(seed)
        side = choose_side("Push", demo_rng("Push", seed), cfg, scene)
        sides.add(side)
        pos = {k: scene.data.xpos[b] for k, b in scene.obj_body.items()}
        v = scene.world_T_base[:3, :3].T @ (pos["target"] - pos["cube"])
        outward = (1.0 if side == "left" else -1.0) * v[1] / np.linalg.norm(v[:2])
        assert outward <= PUSH_OUTWARD, f"seed {seed}: the {side} hand pushes out towards its own side"
    assert sides == {"left", "right"}

