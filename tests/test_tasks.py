"""sim.tasks: gymnasium compliance, seeding, names, camera models against MuJoCo's own rendering, metric depth."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import mujoco
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

os.environ.setdefault("MUJOCO_GL", "egl")

import sim.tasks  # noqa: E402  (registers the gymnasium ids)
from sim.tasks import CAMERAS, TASKS, env_id, make_env  # noqa: E402
from sim.tasks.cameras import world_T_body  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.xdist_group("sim_tasks"),  # one worker per sim test file: each builds several MuJoCo envs
    pytest.mark.filterwarnings("ignore:.*infinity.*:UserWarning"),  # unbounded low-dim Boxes are intended
]


def _placement(obs: dict) -> dict:
    """The parts of an observation that reset(seed) must reproduce: objects, targets, robot joints."""
    skip = ("_image", "_depth")
    return {k: np.asarray(v).tolist() for k, v in obs.items() if not k.endswith(skip)}


# ---------------------------------------------------------------------------------------------- gymnasium API
@pytest.mark.parametrize("task", list(TASKS))
def test_check_env_without_cameras(task):
    env = gymnasium.make(env_id(task))
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert info["success"] is False
    assert all(v.dtype == np.float64 for v in obs.values())
    assert {"robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "robot0_joint_pos"} <= set(obs)
    spec = TASKS[task]
    assert {f"{o}_pos" for o in spec.objects} | {f"{t}_pos" for t in spec.targets} <= set(obs)
    _, reward, terminated, truncated, info = env.step(np.zeros(7, np.float32))
    assert isinstance(info["success"], bool) and reward == float(info["success"]) and not terminated
    u = env.unwrapped
    assert u.task_name == task and u.instruction == spec.instruction and u.horizon == spec.horizon
    assert isinstance(u.success(), bool)
    env.close()


@pytest.mark.parametrize("task", list(TASKS))
def test_check_env_with_camera(task):
    env = gymnasium.make(
        env_id(task), cameras=("egoview",), image_size=(48, 64), depth=True, render_mode="rgb_array"
    ).unwrapped
    check_env(env)
    obs, _ = env.reset(seed=1)
    assert obs["egoview_image"].shape == (48, 64, 3) and obs["egoview_image"].dtype == np.uint8
    assert obs["egoview_depth"].shape == (48, 64, 1) and obs["egoview_depth"].dtype == np.float32
    assert np.isfinite(obs["egoview_depth"]).all() and obs["egoview_depth"].min() > 0
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0
    # the egocentric camera has its task's field of view (PickPlaceCan's is wider: its bins span ~1 m)
    fovy = TASKS[task].egoview.fovy
    assert env.camera_model("egoview").K[1, 1] == pytest.approx(0.5 * 48 / np.tan(np.radians(fovy) / 2))
    env.close()


def test_truncates_at_horizon_never_terminates():
    env = make_env("Lift", horizon=3)
    env.reset(seed=0)
    flags = [env.step(np.zeros(7))[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    env.close()


def test_render_right_side_up():
    """agentview looks at the table from above its far edge: the wall/floor is at the top, the table below."""
    env = make_env("Lift", render_mode="rgb_array", image_size=(64, 64))
    env.reset(seed=0)
    img = env.render().astype(float)
    table_is_white = img[-16:].mean() > img[:8].mean()
    assert table_is_white
    env.close()


def test_envs_in_one_process_render_independently():
    """robosuite makes a GL context current only when creating it, and frees GL objects on garbage collection in
    whatever context is current: creating, rendering and dropping a second env must not change the first's images."""
    a = make_env("Lift", render_mode="rgb_array", image_size=(32, 32))
    a.reset(seed=0)
    reference = a.render_camera("agentview")[0]
    b = make_env("Stack", render_mode="rgb_array", image_size=(32, 32))
    b.reset(seed=0)
    b.render()
    np.testing.assert_array_equal(a.render_camera("agentview")[0], reference)
    del b  # not closed
    np.testing.assert_array_equal(a.render_camera("agentview")[0], reference)
    a.close()


# ---------------------------------------------------------------------------------------------- seeding
_SEED_SCRIPT = """
import json, sys
from sim.tasks import TASKS, make_env
out = {}
for task in TASKS:
    env = make_env(task)
    obs, _ = env.reset(seed=int(sys.argv[1]))
    out[task] = {k: v.tolist() for k, v in obs.items()}
print(json.dumps(out))
"""


def test_reset_seed_reproducible_within_process():
    for task in TASKS:
        env = make_env(task)
        first = _placement(env.reset(seed=11)[0])
        env.reset(seed=12)
        env.step(env.action_space.sample())
        assert _placement(env.reset(seed=11)[0]) == first, task
        other = _placement(env.reset(seed=12)[0])
        for name in TASKS[task].objects:
            assert not np.allclose(first[f"{name}_pos"], other[f"{name}_pos"]), f"{task}: {name} did not move"
        assert not np.allclose(first["robot0_joint_pos"], other["robot0_joint_pos"])
        env.close()


def test_push_target_seeded_and_far_enough():
    env = make_env("Push")
    kw = TASKS["Push"].scene_kwargs
    targets = []
    for seed in range(8):
        obs, _ = env.reset(seed=seed)
        d = np.linalg.norm(obs["cube_to_target_pos"][:2])
        assert kw["target_distance"][0] - 1e-6 <= d <= kw["target_distance"][1] + 1e-6
        assert d > kw["target_radius"] + 0.05  # the cube has to be pushed, not nudged
        targets.append(obs["target_pos"])
    assert len({tuple(np.round(t, 6)) for t in targets}) == len(targets)
    env.close()


def test_reset_seed_reproducible_across_processes():
    env = {**os.environ, "MUJOCO_GL": "egl", "PYTHONHASHSEED": "random"}
    cmd = [sys.executable, "-c", _SEED_SCRIPT, "5"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO) for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1]
    here = make_env("Push")
    assert _placement(here.reset(seed=5)[0]) == outs[0]["Push"]
    here.close()


# ---------------------------------------------------------------------------------------------- names and configs
def test_unknown_names_raise_value_error_listing_valid_ones():
    with pytest.raises(ValueError, match="Lift.*Stack.*PickPlaceCan.*Push"):
        make_env("Pour")
    with pytest.raises(ValueError, match="agentview.*egoview"):
        make_env("Lift", cameras=("frontview",))
    with pytest.raises(ValueError, match="agentview.*egoview"):
        gymnasium.make(env_id("Lift"), cameras=("eye_in_hand",))
    env = make_env("Lift")
    with pytest.raises(ValueError, match="agentview.*egoview"):
        env.camera_model("birdview")
    env.close()


def test_task_yaml_configs_mirror_registry():
    for task, spec in TASKS.items():
        cfg = yaml.safe_load((REPO / "configs" / "task" / f"{task}.yaml").read_text())
        assert cfg == {"name": spec.name, "horizon": spec.horizon, "instruction": spec.instruction}


# ---------------------------------------------------------------------------------------------- cameras and depth
SPHERE_RADIUS = 0.015
# world points whose sphere is fully inside both images and not hidden by the robot arm (egoview looks over it)
PROBE_POINTS = [(-0.2, -0.2, 1.0), (0.0, 0.3, 0.85), (-0.2, 0.3, 0.85), (0.0, -0.3, 1.0)]


def test_camera_models_match_mujoco_rendering_and_depth_is_metric():
    """A small sphere at known points: its rendered centroid must be where CameraModel.project puts its centre
    (< 0.5 px each, < 0.25 px on average, which pins the half-pixel convention) and the depth there must be its
    camera-frame z minus its radius. A non-square image also checks fx = fy and the principal point."""
    H, W = 240, 320
    env = make_env("Lift", cameras=CAMERAS, image_size=(H, W), depth=True)
    env.reset(seed=0)
    sim, rs = env.sim, env.robosuite_env
    geom = sim.model.geom_name2id("cube_g0_vis")  # turn the cube's visual geom into the probe sphere
    sim.model.geom_type[geom] = mujoco.mjtGeom.mjGEOM_SPHERE
    sim.model.geom_size[geom] = (SPHERE_RADIUS, 0.0, 0.0)
    base_T_world = np.linalg.inv(world_T_body(sim, "robot0_base"))
    for cam in CAMERAS:
        model = env.camera_model(cam)
        assert (model.width, model.height) == (W, H) and model.K[0, 0] == model.K[1, 1]
        errors = []
        for p in PROBE_POINTS:
            sim.data.set_joint_qpos(rs.cube.joints[0], np.array([*p, 1.0, 0.0, 0.0, 0.0]))
            sim.forward()
            seg = sim.render(width=W, height=H, camera_name=cam, segmentation=True)[::-1]
            mask = (seg[..., 0] == mujoco.mjtObj.mjOBJ_GEOM) & (seg[..., 1] == geom)
            p_base = base_T_world[:3, :3] @ p + base_T_world[:3, 3]
            uv, z = model.project(p_base[None])
            expected_area = np.pi * (model.K[0, 0] * SPHERE_RADIUS / z[0]) ** 2
            assert abs(mask.sum() / expected_area - 1) < 0.25, f"{cam} {p}: sphere occluded or off-screen"
            v, u = np.nonzero(mask)
            assert u.min() > 0 and v.min() > 0 and u.max() < W - 1 and v.max() < H - 1, f"{cam} {p}: clipped"
            centroid = np.array([u.mean(), v.mean()])
            errors.append(centroid - uv[0])
            assert np.linalg.norm(errors[-1]) < 0.5, f"{cam} {p}: {errors[-1]} px"

            _, depth = env.render_camera(cam, depth=True)
            d = depth[int(round(centroid[1])), int(round(centroid[0])), 0]
            assert abs(d - (z[0] - SPHERE_RADIUS)) < 0.003, f"{cam} {p}: depth {d} vs z {z[0]}"
            # unproject the centroid with the measured depth: back near the sphere's front surface
            back = model.unproject(centroid[None], np.array([d]))[0]
            assert np.linalg.norm(back - p_base) < SPHERE_RADIUS + 0.003
        assert np.linalg.norm(np.mean(errors, axis=0)) < 0.25, f"{cam}: mean error {np.mean(errors, axis=0)} px"
    env.close()


def test_camera_model_pose_is_in_robot_base_frame():
    env = make_env("PickPlaceCan")  # a scene whose base is not at the world's y = 0
    env.reset(seed=0)
    world_T_base = world_T_body(env.sim, "robot0_base")
    for cam in CAMERAS:
        model = env.camera_model(cam)
        cam_world = world_T_base @ model.base_T_cam
        np.testing.assert_allclose(cam_world[:3, 3], env.sim.data.get_camera_xpos(cam), atol=1e-9)
        forward = cam_world[:3, 2]  # OpenCV z = MuJoCo's -z
        np.testing.assert_allclose(forward, -env.sim.data.get_camera_xmat(cam)[:, 2], atol=1e-9)
    ego = world_T_base @ env.camera_model("egoview").base_T_cam
    assert 1.55 <= ego[2, 3] <= 1.65 and ego[0, 3] < world_T_base[0, 3]  # head height, behind the base
    assert ego[2, 2] < -0.5  # looking down
    env.close()
