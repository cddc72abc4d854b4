"""The synthetic HOI engine (sim.handsim.engine): placement, determinism, success, GT consistency, hidden robot."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("robosuite")

from hoi_videogen.data import motion_area_mask  # noqa: E402
from sim.handsim.engine import get_scene, make_clip  # noqa: E402
from sim.handsim.scene import ROBOT_PREFIXES  # noqa: E402

pytestmark = pytest.mark.xdist_group("engine")
SIZE = 96


@pytest.fixture(scope="module")
def lift_clip():
    return make_clip("Lift", 1, resolution=SIZE, num_frames=8)


def test_same_placement_as_robot_env():
    import sim.tasks

    env = sim.tasks.make_env("Stack")
    try:
        obs, _ = env.reset(seed=5)
        scene = get_scene("Stack")
        scene.reset(5)
        poses = scene.object_poses()
        for key in ("cubeA", "cubeB"):
            np.testing.assert_allclose(poses[key][:3], obs[f"{key}_pos"], atol=1e-9)
            np.testing.assert_allclose(poses[key][3:], obs[f"{key}_quat"], atol=1e-9)
        cam = scene.camera_model("egoview", 128)
        assert cam == env.camera_model("egoview")
    finally:
        env.close()


def test_engine_egoview_is_the_robot_envs():
    """The engine renders the hand demos through the robot env's own egocentric camera, including a task's own field
    of view (PickPlaceCan's is wider than the others')."""
    import sim.tasks

    env = sim.tasks.make_env("PickPlaceCan")
    try:
        env.reset(seed=0)
        scene = get_scene("PickPlaceCan")
        scene.reset(0)
        assert scene.camera_model("egoview", 128) == env.camera_model("egoview")
    finally:
        env.close()


def test_deterministic_per_seed(lift_clip):
    again = make_clip("Lift", 1, resolution=SIZE, num_frames=8)
    np.testing.assert_array_equal(lift_clip.video, again.video)
    np.testing.assert_array_equal(lift_clip.keypoints_2d, again.keypoints_2d)
    np.testing.assert_array_equal(lift_clip.objects["cube"], again.objects["cube"])
    assert lift_clip.meta == again.meta


@pytest.mark.parametrize("task", ["Lift", "Stack", "PickPlaceCan"])
def test_demo_succeeds(task):
    for seed in (0, 1):
        clip = make_clip(task, seed, resolution=64, num_frames=4)
        assert clip.success, (task, seed, clip.meta)


# seeds whose open-loop demos failed: Push (cube pushed off-line / dragged up by the fingers), Stack (cubeA pressed
# into cubeB, knocked off on release)
# Stack 11/19/23: the fingers nudged cubeB while grasping cubeA, cubeA was placed off its top (carry/place re-aim);
# PickPlaceCan 7/31/35/36: the pinching hand rested on bin1 (floor height, then hand-bin contacts excluded).
@pytest.mark.parametrize("task,seed", [("Push", 1), ("Push", 3), ("Push", 7), ("Stack", 7), ("Stack", 14),
                                       ("Stack", 11), ("Stack", 19), ("PickPlaceCan", 31), ("PickPlaceCan", 35)])
def test_previously_failing_demos_succeed(task, seed):
    from sim.handsim.check_success import run_demo

    ok, scene, player = run_demo(task, seed)
    assert ok, (task, seed, {k: scene.data.xpos[b].round(3).tolist() for k, b in scene.obj_body.items()})
    if task == "Push":
        cube = scene.data.xpos[scene.obj_body["cube"]]
        assert cube[2] < scene.rs.table_offset[2] + 0.03  # resting on the table, not carried off by the fingers
    assert player.max_object_step < 0.005


def test_ma_mask_and_objects_do_not_jump(lift_clip):
    c = lift_clip
    np.testing.assert_array_equal(c.ma_mask, motion_area_mask(c.keypoints_2d, c.visibility, SIZE, SIZE))
    assert c.ma_mask.sum() > 0
    assert c.meta["max_object_step_m"] < 0.005  # 2 ms physics steps: < 2.5 m/s


def test_keypoints_fall_on_the_hand_and_robot_hidden():
    scene = get_scene("Lift")
    clip = make_clip("Lift", 2, resolution=SIZE, num_frames=8)
    slot = 1 if clip.meta["side"] == "right" else 0
    # re-render the last frame's state with segmentation: the hand is still posed there? No: it is parked after the
    # clip; instead pose it again kinematically from the GT and check the projection against the segmentation.
    side = clip.meta["side"]
    hand = scene.hands[side]
    scene.reset(2)
    from sim.handsim.pose import PRESETS

    hand.set_qpos(scene.data, PRESETS["pinch_open"])
    cube = scene.data.xpos[scene.obj_body["cube"]]
    hand.place_grasp(scene.data, cube + (0, 0, 0.08), (0.0, 0.0, 1.0, 0.0), "pinch")
    import mujoco

    mujoco.mj_forward(scene.model, scene.data)
    seg = scene.render("egoview", SIZE, segmentation=True)
    cam = scene.camera_model("egoview", SIZE)
    uv, _ = cam.project(scene.to_base(hand.keypoints(scene.data)))
    m = scene.model
    hand_bodies = {i for i in range(m.nbody) if m.body(i).name.startswith(f"{side}_")}
    geom_type = int(mujoco.mjtObj.mjOBJ_GEOM)
    hits = 0
    for u, v in np.round(uv).astype(int):
        if 0 <= u < SIZE and 0 <= v < SIZE:
            obj, typ = seg[v, u]
            hits += typ == geom_type and m.geom_bodyid[obj] in hand_bodies or typ == int(mujoco.mjtObj.mjOBJ_SKIN)
    assert hits >= 15, hits
    # no robot geom anywhere in the image
    ids = seg[..., 0][seg[..., 1] == geom_type]
    names = {m.body(m.geom_bodyid[g]).name for g in np.unique(ids)}
    assert not any(n.startswith(ROBOT_PREFIXES) for n in names), names
    assert clip.hand_present[:, slot].all()


def test_restyle_reaches_the_open_renderer():
    """A renderer made for one clip must show the next clip's skin tone (its texture re-uploaded on restyle)."""
    from sim.handsim.engine import EngineConfig

    light = make_clip("Lift", 2, resolution=64, num_frames=4, config=EngineConfig(skin_tones=("very_light",)))
    dark = make_clip("Lift", 2, resolution=64, num_frames=4, config=EngineConfig(skin_tones=("dark",)))
    np.testing.assert_array_equal(light.keypoints_2d, dark.keypoints_2d)  # same motion
    hand = np.abs(light.video.astype(int) - dark.video.astype(int)).sum(-1) > 30
    assert hand.sum() > 20  # the hand's pixels changed colour
    assert light.video[hand].mean() > dark.video[hand].mean() + 30


def test_context_frame_does_not_depend_on_the_previous_clip():
    make_clip("Lift", 5, resolution=64, num_frames=4)
    a = make_clip("Lift", 3, resolution=64, num_frames=4)  # after seed 5
    make_clip("Lift", 2, resolution=64, num_frames=4)
    b = make_clip("Lift", 3, resolution=64, num_frames=4)  # after seed 2
    np.testing.assert_array_equal(a.video, b.video)
    np.testing.assert_array_equal(a.context, b.context)
