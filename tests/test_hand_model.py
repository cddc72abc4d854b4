"""The MuJoCo human hand (sim.handsim): topology, size, mirroring, presets, actuation, grasp placement, skin."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from hoi2robot.contracts import HAND_JOINTS
from sim.tasks.cameras import look_at_quat as look_at
from sim.tasks.cameras import mj_camera_model as camera_model
from sim.handsim.control import Hand, natural_elbow, quat_from_axes
from sim.handsim.hand import attach_hand, build_hand, restyle
from sim.handsim.names import JOINTS, HandNames
from sim.handsim.pose import PRESETS, HandPose
from sim.handsim.style import HandStyle

SIDES = ("left", "right")


@pytest.fixture(scope="module")
def bare():
    """side -> (model, data, Hand) of a hand without skin (kinematics and dynamics are the same)."""
    out = {}
    for side in SIDES:
        model = build_hand(side, skin=False, pos=(0, 0, 0)).compile()
        out[side] = (model, mujoco.MjData(model), Hand(model, f"{side}_"))
    return out


def posed_keypoints(model, data, hand: Hand, pose: HandPose) -> np.ndarray:
    hand.set_qpos(data, pose)
    hand.set_wrist(data, (0, 0, 0), (1, 0, 0, 0), snap=True)
    mujoco.mj_kinematics(model, data)
    return hand.keypoints(data)


def test_both_hands_compile_with_skin_and_attach_into_a_scene():
    scene = mujoco.MjSpec()
    scene.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=(1, 1, 0.1))
    for side in SIDES:
        attach_hand(scene, build_hand(side, HandStyle.preset("dark")), prefix="h_")
    model = scene.compile()
    assert model.nskin == 2 and model.nmocap == 2
    assert model.nu == 2 * (len(JOINTS) + 2)  # finger joints + wrist flexion/deviation, per hand
    for side in SIDES:
        skin = model.skin(f"h_{side}_skin")
        assert model.skin_matid[skin.id] == model.material(f"h_{side}_skin").id
        Hand(model, f"h_{side}_")  # every name resolves
        restyle(model, f"h_{side}_", HandStyle.preset("very_light"))
    data = mujoco.MjData(model)
    mujoco.mj_step(model, data)
    assert np.isfinite(data.qpos).all()


def test_keypoint_sites_follow_mediapipe_order(bare):
    for side, (model, _, hand) in bare.items():
        assert [model.site(i).name for i in hand.site_ids] == [f"{side}_{j}" for j in HAND_JOINTS]
        assert HandNames(f"{side}_").keypoint_sites == tuple(f"{side}_{j}" for j in HAND_JOINTS)
        # each digit's keypoints lie on one kinematic chain, in order (every site's body is a child of the last)
        bodies = model.site_bodyid[hand.site_ids]
        for d in range(5):
            chain = bodies[1 + 4 * d : 5 + 4 * d]
            assert all(model.body_parentid[b] == a for a, b in zip(chain[:2], chain[1:3]))
            assert chain[3] == chain[2]  # the tip sits on the distal phalanx


def test_adult_size(bare):
    model, data, hand = bare["right"]
    kp = posed_keypoints(model, data, hand, PRESETS["open"])
    assert 0.09 <= np.linalg.norm(kp[9] - kp[0]) <= 0.10  # wrist to middle knuckle
    assert 0.17 <= np.linalg.norm(kp[12] - kp[0]) <= 0.20  # hand length
    small = build_hand("right", HandStyle(scale=0.9), skin=False).compile()
    d = mujoco.MjData(small)
    kp_small = posed_keypoints(small, d, Hand(small, "right_"), PRESETS["open"])
    assert np.linalg.norm(kp_small[9] - kp_small[0]) == pytest.approx(0.9 * np.linalg.norm(kp[9] - kp[0]))


def test_left_hand_mirrors_right(bare):
    flip = np.array([1.0, -1.0, 1.0])
    for name in ("open", "pinch", "power", "fist"):
        right = posed_keypoints(*bare["right"], PRESETS[name])
        left = posed_keypoints(*bare["left"], PRESETS[name])
        np.testing.assert_allclose(left, right * flip, atol=1e-9)
    assert posed_keypoints(*bare["right"], PRESETS["open"])[4, 1] > 0.05  # right thumb on +y (radial)


def test_presets_open_and_close_the_pinch(bare):
    for side in SIDES:
        kp = {n: posed_keypoints(*bare[side], p) for n, p in PRESETS.items()}
        gap = {n: np.linalg.norm(k[4] - k[8]) for n, k in kp.items()}
        assert gap["pinch"] < 0.02
        assert gap["open"] > 0.08
        assert gap["pinch_open"] > 0.05
        assert gap["power_open"] > gap["power"]
        # a fist pulls every fingertip towards the wrist
        assert all(np.linalg.norm(kp["fist"][t] - kp["fist"][0]) < 0.7 * np.linalg.norm(kp["open"][t] - kp["open"][0])
                   for t in (8, 12, 16, 20))  # fmt: skip


def test_actuators_track_targets(bare):
    for side in SIDES:
        model, _, hand = bare[side]
        data = mujoco.MjData(model)
        hand.set_wrist(data, (0, 0, 0.5), quat_from_axes((1, 0, -0.5), (0, 0, -1)), snap=True)
        for name in ("pinch", "fist", "open"):
            hand.set_ctrl(data, PRESETS[name])
            for _ in range(400):  # 0.8 s at 2 ms
                mujoco.mj_step(model, data)
            q = hand.pose(data).array
            np.testing.assert_allclose(q, PRESETS[name].array, atol=np.deg2rad(2.0), err_msg=f"{side} {name}")


@pytest.mark.parametrize("kind", ["pinch", "power"])
def test_grasp_point_lands_on_target(bare, kind):
    model, data, hand = bare["right"]
    rng = np.random.default_rng(0)
    hand.set_qpos(data, PRESETS["pinch"] if kind == "pinch" else PRESETS["power"])
    for _ in range(5):
        target = rng.uniform(-0.3, 0.3, 3) + (0, 0, 1)
        quat = quat_from_axes(rng.normal(size=3), rng.normal(size=3))
        wrist = hand.place_grasp(data, target, quat, kind)
        assert np.linalg.norm(hand.grasp_point(data, kind) - target) < 0.002
        np.testing.assert_allclose(hand.wrist_pose(data)[0], wrist)
    # the grasp point of a pose the fingers have not reached yet (pre-shape open, place for closed)
    hand.set_qpos(data, PRESETS["pinch_open"])
    hand.place_grasp(data, (0.1, 0.2, 0.9), (1, 0, 0, 0), "pinch", pose=PRESETS["pinch"])
    hand.set_qpos(data, PRESETS["pinch"])
    mujoco.mj_kinematics(model, data)
    assert np.linalg.norm(hand.grasp_point(data, "pinch") - (0.1, 0.2, 0.9)) < 0.002


def test_forearm_points_at_the_elbow(bare):
    for side in SIDES:
        model, data, hand = bare[side]
        hand.set_qpos(data, PRESETS["relaxed"])
        hand.set_wrist(data, (0.0, 0.0, 0.9), quat_from_axes((1, 0, -0.6), (0, 0, -1)), snap=True)
        mujoco.mj_kinematics(model, data)
        shoulder = (-0.38, -0.2 if side == "right" else 0.2, 1.28)
        elbow = natural_elbow(shoulder, (0.0, 0.0, 0.9))
        assert np.linalg.norm(elbow - shoulder) == pytest.approx(0.30)
        hand.aim_forearm(data, elbow)
        mujoco.mj_kinematics(model, data)
        fore = model.body(f"{side}_forearm").id
        back = -data.xmat[fore].reshape(3, 3)[:, 0]  # the forearm extends along its -x
        want = elbow - data.xpos[fore]
        assert back @ want / np.linalg.norm(want) > 0.99


def test_camera_model_projects_the_look_at_point_to_the_centre():
    spec = mujoco.MjSpec()
    eye, target = np.array([0.5, 0.2, 1.35]), np.array([0.0, 0.05, 0.8])
    spec.worldbody.add_camera(name="cam", pos=eye, quat=look_at(eye, target), fovy=45.0)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    cam = camera_model(model, data, "cam", 256, 256)
    uv, z = cam.project(target[None])
    np.testing.assert_allclose(uv[0], (127.5, 127.5), atol=1e-9)
    assert z[0] == pytest.approx(np.linalg.norm(target - eye))
    uv, _ = cam.project((target + (0, 0, 0.05))[None])
    assert uv[0, 1] < 127.5  # world up is image up


def test_a_pinch_lifts_a_cube_by_friction():
    """The hand carries what it holds: the weld gives the palm real velocities, so fingertip friction works."""
    spec = build_hand("right", skin=False, pos=(0, 0, 0.3))
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=(1, 1, 0.1))
    cube = spec.worldbody.add_body(name="cube", pos=(0, 0, 0.0215))
    cube.add_freejoint()
    cube.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=(0.021,) * 3, density=500.0)
    spec.option.cone, spec.option.impratio = mujoco.mjtCone.mjCONE_ELLIPTIC, 10.0
    model = spec.compile()
    data = mujoco.MjData(model)
    hand = Hand(model, "right_")
    grasp = (0.0, 0.0, 0.025)
    hand.set_qpos(data, PRESETS["pinch_open"])
    quat = hand.pinch_quat(data, (1, 0, 0), (0, 0, -1), PRESETS["pinch_open"])  # thumb on -x face, index on +x
    hand.place_grasp(data, np.add(grasp, (0, 0, 0.08)), quat, "pinch", pose=PRESETS["pinch"])

    def steps(seconds, target_z=None):
        for i in range(int(seconds / model.opt.timestep)):
            if target_z is not None:
                z = target_z(i * model.opt.timestep / seconds)
                hand.place_grasp(data, (grasp[0], grasp[1], z), quat, "pinch", pose=PRESETS["pinch"], snap=False)
            mujoco.mj_step(model, data)

    steps(0.5, lambda s: grasp[2] + 0.08 * (1 - s))  # descend around the cube
    hand.set_ctrl(data, PRESETS["pinch"])
    steps(0.4)  # close
    touching = {model.geom(g).name for c in data.contact[: data.ncon] for g in (c.geom1, c.geom2)}
    assert {"right_thumb_distal", "right_index_distal"} <= touching
    z0 = data.body("cube").xpos[2]
    steps(0.8, lambda s: grasp[2] + 0.10 * s)  # lift 10 cm
    steps(0.2)
    assert data.body("cube").xpos[2] - z0 > 0.08
