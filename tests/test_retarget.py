"""policy.retarget: lifting, gripper hysteresis, gap filling, timing, config, IK, and GT demos executed in sim."""
from __future__ import annotations

import numpy as np
import pytest

from hoi2robot.contracts import CameraModel, EETrajectory, HandTrack
from policy.retarget import RetargetConfig, RetargetError, Retargeter, load_config
from policy.retarget.filters import fill_gaps, gap_lengths, reject_outliers, smooth
from policy.retarget.gripper import drop_short_closures, gripper_from_aperture, hysteresis, pick_place_from_motion
from policy.retarget.lifting import plane_depth, pnp_hand, sample_depth
from policy.retarget.orientation import closing_yaw, quat_to_mat, topdown_quat
from policy.retarget.timing import insert_dwells, resample, time_scale


def look_down_camera(size: int = 256) -> CameraModel:
    """A camera 0.6 m above (0.5, 0, -0.1) looking straight down, tilted a little, image x ≈ base -y."""
    R = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])  # columns: camera x, y, z in base
    c, s = np.cos(0.2), np.sin(0.2)
    R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]) @ R
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, (0.4, 0.0, 0.5)
    K = np.array([[220.0, 0, (size - 1) / 2], [0, 220.0, (size - 1) / 2], [0, 0, 1]])
    return CameraModel("test", K, size, size, T)


# ------------------------------------------------------------------------------------------------------- lifting
def test_point_projects_and_lifts_back_through_camera_model():
    cam = look_down_camera()
    p = np.array([[0.55, 0.05, -0.08], [0.45, -0.1, 0.02]])
    uv, z = cam.project(p)
    assert np.all(z > 0) and np.all((uv > 0) & (uv < 256))
    np.testing.assert_allclose(cam.unproject(uv, z), p, atol=1e-9)
    # the depth image route: sample the depth under the pixel, lift
    depth = np.full((256, 256), np.nan)
    for (u, v), zz in zip(uv, z):
        depth[int(round(v)), int(round(u))] = zz
    np.testing.assert_allclose(sample_depth(depth, uv, 0, 0.05, 5.0), z)
    # the plane route: a point on the plane z = -0.08 is recovered from its pixel alone
    np.testing.assert_allclose(plane_depth(cam, uv[0], -0.08), z[0], rtol=1e-9)


def test_pnp_recovers_a_hand_from_pixels_and_centred_metric_points():
    rng = np.random.default_rng(0)
    cam = look_down_camera()
    kp_cam = rng.normal(0, 0.04, (21, 3)) + (0.02, -0.01, 0.55)  # a hand-sized cloud 55 cm in front of the camera
    uv = kp_cam @ cam.K.T
    uv = uv[:, :2] / uv[:, 2:]
    world = kp_cam - kp_cam.mean(axis=0)
    c, s = np.cos(0.3), np.sin(0.3)  # world landmarks need not be camera-aligned: PnP finds the rotation
    world = world @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T
    pts, err = pnp_hand(uv, world, cam.K)
    assert err < 1e-3
    np.testing.assert_allclose(pts, kp_cam, atol=1e-5)


def test_pnp_rejects_collapsed_landmarks_instead_of_raising():
    """A blob-like generated hand can give near-coincident world landmarks; SQPnP asserts on them (cv2.error), which
    once failed a whole generated seed. The frame comes back unsolved, for the caller to drop as an outlier."""
    rng = np.random.default_rng(0)
    cam = look_down_camera()
    world = 1e-6 * rng.normal(size=(21, 3))
    pts, err = pnp_hand(rng.uniform(30, 90, (21, 2)), world, cam.K)
    assert err == float("inf") and np.isnan(pts).all() and pts.shape == (21, 3)


# --------------------------------------------------------------------------------------------------- gripper
def test_hysteresis_does_not_chatter_between_thresholds():
    a = np.array([1.0, 0.55, 0.45, 0.39, 0.45, 0.55, 0.45, 0.61, 0.5, 0.41, 0.2])
    np.testing.assert_array_equal(hysteresis(a, 0.4, 0.6), [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1])
    # unknown frames keep the state
    np.testing.assert_array_equal(hysteresis(np.array([0.1, np.nan, 0.9, np.nan]), 0.4, 0.6), [1, 1, 0, 0])
    with pytest.raises(ValueError, match="open_above >= close_below"):
        hysteresis(a, 0.6, 0.4)


def test_short_closures_dropped_and_no_grasp_without_aperture_change():
    t = np.arange(10) * 0.1
    cmd = np.array([0, 1, 1, 0, 0, 1, 1, 1, 1, 1], float)
    np.testing.assert_array_equal(drop_short_closures(cmd, t, 0.3), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    cfg = RetargetConfig().gripper
    ap = np.concatenate([np.full(10, 0.07), np.linspace(0.07, 0.037, 5), np.full(10, 0.037)])
    t = np.arange(len(ap)) * 0.1
    cmd, has_grasp, _ = gripper_from_aperture(ap, t, cfg)
    assert has_grasp and cmd[0] == 0 and cmd[-1] == 1
    assert np.flatnonzero(np.diff(cmd))[0] in (11, 12)  # switches as the fingers close, not before
    cmd, has_grasp, _ = gripper_from_aperture(0.06 + 0.003 * np.sin(t * 10), t, cfg)
    assert not has_grasp and np.all(cmd == cfg.no_grasp_command)


def test_closure_needs_an_open_hand_before_it():
    from policy.retarget.gripper import require_open_before

    a = np.array([0.1, 0.1, 0.2, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9])  # enters closed, opens, closes, opens
    cmd = hysteresis(a, 0.4, 0.6)
    np.testing.assert_array_equal(cmd, [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0])
    out = require_open_before(cmd, a, 0.6, 2)
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0])  # the entry closure was no grasp
    np.testing.assert_array_equal(require_open_before(cmd, a, 0.6, 4), np.zeros(11))  # only 3 open frames
    a_nan = a.copy()
    a_nan[3:5] = np.nan  # unseen frames do not count as open
    np.testing.assert_array_equal(require_open_before(cmd, a_nan, 0.6, 2), np.zeros(11))
    # a hand that enters closed and never closes again has no grasp: the push command (closed fingers) throughout
    cfg = RetargetConfig().gripper
    ap = np.concatenate([np.full(8, 0.02), np.full(12, 0.08)])  # MediaPipe reads pushing fingers as a closing
    cmd, has_grasp, _ = gripper_from_aperture(ap, np.arange(20) * 0.25, cfg)
    assert not has_grasp and np.all(cmd == cfg.no_grasp_command)


# ---------------------------------------------------------------------------------------------- gaps, outliers
def test_pick_and_place_timed_from_the_hands_motion():
    # image row of the grasp point (larger = lower): enters low (frame 0, no pick), rises, descends to the pick
    # (frames 6-8), rises with the object, descends to the place (frames 15-17), rises away
    v = np.array([200, 150, 120, 110, 130, 160, 190, 191, 189, 150, 110, 100, 105, 130, 160, 180, 181, 179, 140, 110,
                  100, 100], float)
    valid = np.ones(len(v), bool)
    assert pick_place_from_motion(v, valid, prominence=15.0) == (6, 18)
    valid[7] = False  # a missed frame inside the pick bottom is interpolated over
    v_missing = v.copy()
    v_missing[7] = np.nan
    assert pick_place_from_motion(v_missing, valid, prominence=15.0) == (6, 18)
    # a lift (one bottom) or a push, or bottoms shallower than the prominence: no pick and place
    assert pick_place_from_motion(v[:12], np.ones(12, bool), prominence=15.0) is None
    assert pick_place_from_motion(v, np.ones(len(v), bool), prominence=150.0) is None
    # the hand still at the place when the clip ends: no release seen
    assert pick_place_from_motion(v[:17], np.ones(17, bool), prominence=15.0) is None
    with pytest.raises(ValueError, match=r"gripper.timing"):
        RetargetConfig.from_dict({"gripper": {"timing": "guess"}})
    assert load_config("default").gripper.timing == "auto"


def test_gap_filling_interpolates_inside_and_holds_at_the_ends():
    x = np.array([[0.0], [9.0], [2.0], [9.0], [9.0], [5.0], [9.0]])
    valid = np.array([False, False, True, False, False, True, False])
    np.testing.assert_allclose(fill_gaps(x, valid)[:, 0], [2, 2, 2, 3, 4, 5, 5])
    assert gap_lengths(valid) == [(0, 2), (3, 2), (6, 1)]
    with pytest.raises(ValueError, match="no valid frame"):
        fill_gaps(x, np.zeros(7, bool))


def test_outliers_rejected_but_steady_fast_motion_kept():
    x = np.column_stack([np.arange(10) * 0.1, np.zeros(10), np.zeros(10)])  # 10 cm per frame, steady
    valid = np.ones(10, bool)
    assert reject_outliers(x, valid, 0.06, 5).all()
    x[4, 2] = 0.2  # a 20 cm spike
    kept = reject_outliers(x, valid, 0.06, 5)
    assert not kept[4] and kept.sum() == 9


def test_savgol_smoothing_reduces_noise_and_keeps_short_inputs():
    rng = np.random.default_rng(1)
    clean = np.linspace(0, 1, 40)[:, None]
    noisy = clean + rng.normal(0, 0.02, clean.shape)
    assert np.abs(smooth(noisy, "savgol", 7, 2) - clean).mean() < np.abs(noisy - clean).mean()
    short = np.array([[0.0], [1.0]])
    np.testing.assert_array_equal(smooth(short, "savgol", 7, 2), short)


# ------------------------------------------------------------------------------------------------------ timing
def test_time_scaling_respects_speed_and_dwells_hold_the_pose():
    t = np.linspace(0, 1, 11)
    pos = np.column_stack([np.linspace(0, 1.0, 11), np.zeros(11), np.zeros(11)])  # 1 m/s
    quat = np.repeat(topdown_quat(0.0)[None], 11, axis=0)
    grip = (np.arange(11) >= 6).astype(float)
    tr, pr, qr, gr = resample(t, pos, quat, grip, 0.05)
    assert len(tr) == 21 and gr[0] == 0 and gr[-1] == 1
    td, pd, qd, gd = insert_dwells(tr, pr, qr, gr, 0.5, 0.4)
    i = int(np.flatnonzero(np.diff(gd))[0])
    np.testing.assert_allclose(pd[i], pd[i + 1])  # the gripper switches at a held pose...
    assert td[i + 2] - td[i + 1] >= 0.5 - 1e-9  # ...and waits there
    ts = time_scale(td, pd, qd, gd, max_speed=0.25, max_angular_speed=1.0, max_accel=1.0)
    speed = np.linalg.norm(np.diff(pd, axis=0), axis=1) / np.diff(ts)
    assert speed.max() <= 0.25 + 1e-9
    acc = np.linalg.norm(np.diff(np.diff(pd, axis=0) / np.diff(ts)[:, None], axis=0), axis=1)
    assert (acc / (0.5 * (np.diff(ts)[1:] + np.diff(ts)[:-1]))).max() <= 1.0 * 1.01


def test_closing_yaw_wraps_to_half_turn():
    assert closing_yaw(np.array([0.0, 1.0])) == pytest.approx(0.0)
    assert closing_yaw(np.array([0.0, -1.0])) == pytest.approx(0.0, abs=1e-9)
    assert closing_yaw(np.array([-1.0, 0.0])) == pytest.approx(np.pi / 2 - np.pi, abs=1e-9) or closing_yaw(
        np.array([-1.0, 0.0])
    ) == pytest.approx(-np.pi / 2)
    R = quat_to_mat(topdown_quat(0.3))
    assert R[2, 2] == pytest.approx(-1.0)  # still pointing down


# ------------------------------------------------------------------------------------------------------ config
def test_config_yaml_loads_and_bad_values_name_the_key():
    cfg = load_config("default")
    assert cfg.lift.mode == "auto" and cfg.grasp.tcp_offset == (0.0, 0.0, -0.02)
    with pytest.raises(ValueError, match=r"RetargetConfig.gripper.open_above"):
        RetargetConfig.from_dict({"gripper": {"close_below": 0.7, "open_above": 0.5}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['nope'\]"):
        RetargetConfig.from_dict({"lift": {"nope": 1}})
    with pytest.raises(ValueError, match=r"lift.mode: expected one of"):
        RetargetConfig.from_dict({"lift": {"mode": "guess"}})
    assert cfg.replace(lift={"mode": "metric"}).lift.mode == "metric"


def test_retargeter_rejects_a_track_without_any_hand():
    track = HandTrack.empty(8, fps=10.0, image_size=(256, 256), source="test")
    with pytest.raises(RetargetError, match="no hand detected in any of the 8 frames"):
        Retargeter().retarget(track, look_down_camera())


# ------------------------------------------------------------------------------------------------------------ IK
@pytest.mark.xdist_group("sim")
def test_ik_reaches_targets_within_5mm_and_respects_limits():
    from policy.retarget.ik import PANDA_HOME, forward_kinematics, panda_model, solve_joint_trajectory

    rng = np.random.default_rng(0)
    # reachable targets: forward kinematics of joint configurations near home (a smooth path)
    qs = PANDA_HOME + np.cumsum(rng.normal(0, 0.05, (20, 7)), axis=0)
    model = panda_model()
    lim = model.jnt_range[[model.joint(f"robot0_joint{i}").id for i in range(1, 8)]]
    qs = np.clip(qs, lim[:, 0] + 0.05, lim[:, 1] - 0.05)
    poses = [forward_kinematics(q) for q in qs]
    from policy.retarget.orientation import mat_to_quat

    ee = EETrajectory(t=np.arange(20) * 0.1, position=np.array([p for p, _ in poses]),
                      quat_wxyz=np.array([mat_to_quat(R) for _, R in poses]), gripper=np.linspace(0, 1, 20))  # fmt: skip
    res = solve_joint_trajectory(ee, PANDA_HOME, return_result=True)
    assert res.max_position_error < 0.005, res.position_error
    assert res.orientation_error.max() < 0.05
    assert res.within_limits
    assert np.all(res.joints.positions >= lim[:, 0]) and np.all(res.joints.positions <= lim[:, 1])
    np.testing.assert_array_equal(res.joints.gripper, ee.gripper)
    assert res.joints.joint_names == tuple(f"panda_joint{i}" for i in range(1, 8))
    # an unreachable target (2 m away) is reported by the forward-kinematics check, limits still hold
    far = EETrajectory(t=[0.0], position=[[2.0, 0.0, 0.3]], quat_wxyz=[topdown_quat(0.0)], gripper=[0.0])
    res = solve_joint_trajectory(far, PANDA_HOME, return_result=True)
    assert res.max_position_error > 0.5 and res.within_limits


@pytest.mark.xdist_group("sim")
def test_ik_model_tcp_matches_the_simulated_robot():
    """The IK model's grip site is where the sim env reports robot0_eef_pos for the same joint angles."""
    from policy.retarget.ik import forward_kinematics
    from sim.tasks import make_env

    env = make_env("Lift")
    try:
        obs, _ = env.reset(seed=3)
        p, _ = forward_kinematics(obs["robot0_joint_pos"])
        np.testing.assert_allclose(p, obs["robot0_eef_pos"], atol=1e-4)
    finally:
        env.close()


# ------------------------------------------------------------------------------------- grasp kind and push point
def test_auto_grasp_kind_is_pinch_when_thumb_and_index_meet_while_holding():
    assert RetargetConfig().grasp.type == "pinch"  # auto is opt-in
    r = Retargeter(RetargetConfig().replace(grasp={"type": "auto"}))
    t = np.arange(40) / 10.0
    grip = ((t >= 1.5) & (t < 3.0)).astype(float)
    valid = np.ones(40, bool)
    # a pinch: opens 7 cm, the pads close to 1.5 cm on the object (range 5.5 cm > power_aperture_range)
    pinch = np.where(grip > 0.5, 0.015, 0.07)
    assert r._grasp_kind(pinch, valid, grip) == "pinch"
    # a power grasp: opens 12 cm, thumb and index stay 6 cm apart round the object in the palm
    power = np.where(grip > 0.5, 0.06, 0.12)
    assert r._grasp_kind(power, valid, grip) == "power"
    # a small range is a pinch whatever the hold aperture
    assert r._grasp_kind(np.where(grip > 0.5, 0.05, 0.07), valid, grip) == "pinch"
    forced = Retargeter(RetargetConfig().replace(grasp={"type": "power"}))
    assert forced._grasp_kind(pinch, valid, grip) == "power"


def test_hand_rows_retarget_config_from_the_environment(monkeypatch):
    from policy.retarget.rows import RETARGET_ENV, _retarget_cfg

    monkeypatch.delenv(RETARGET_ENV, raising=False)
    assert _retarget_cfg("depth") == load_config("default").replace(lift={"mode": "depth"})
    monkeypatch.setenv(RETARGET_ENV, '{"grasp": {"type": "auto"}}')
    cfg = _retarget_cfg("metric")
    assert cfg.grasp.type == "auto" and cfg.lift.mode == "metric" and cfg.gripper.timing == "aperture"
    monkeypatch.setenv(RETARGET_ENV, '{"grasp": {"type": "fist"}}')
    with pytest.raises(ValueError, match="fist"):
        _retarget_cfg("depth")
    monkeypatch.setenv(RETARGET_ENV, "{grasp")
    with pytest.raises(ValueError, match="not valid JSON"):
        _retarget_cfg("depth")


def test_push_point_is_the_middle_fingertip():
    from policy.retarget import grasp_points

    kp = np.random.default_rng(0).normal(size=(4, 21, 3))
    np.testing.assert_allclose(grasp_points(kp, "push"), kp[:, 12])


# ------------------------------------------------------------------------------------- object-aware execution
def _box(name, pos, half, yaw=0.0):
    from policy.retarget.objects import ObjectState

    q = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    return ObjectState(name, np.asarray(pos, float), q, np.zeros(3), np.full(3, half))


def _pick_place_traj(p_close, p_release):
    """Approach from 10 cm above the close point, close, carry to the release point, open, rise."""
    p_close, p_release = np.asarray(p_close, float), np.asarray(p_release, float)
    above = p_close + (0, 0, 0.1)
    pts = [above, p_close, p_close, p_release, p_release, p_release + (0, 0, 0.1)]
    grip = [0, 0, 1, 1, 0, 0]
    t = np.arange(len(pts), dtype=float)
    q = np.repeat(topdown_quat(0.0)[None], len(pts), axis=0)
    return EETrajectory(t=t, position=np.array(pts), quat_wxyz=q, gripper=np.array(grip, float), frame_id="robot0_base")


def test_object_aware_reference_grasps_the_object_carries_it_and_follows_the_support():
    from policy.retarget.objects import ObjectAwareReference

    a = _box("a", (0.50, 0.00, -0.08), 0.02)
    b = _box("b", (0.60, 0.10, -0.075), 0.025)
    # the hand closed 3 cm beside cube a (grasp-point bias); it released 7 cm above b
    ee = _pick_place_traj((0.50, 0.03, -0.095), (0.60, 0.13, -0.015))
    ref = ObjectAwareReference(ee, {"a": a, "b": b})
    c = ref.contacts[0]
    assert c.obj == "a" and c.support == "b"
    obs = {"robot0_eef_pos": np.array([0.5, 0.0, 0.05])}
    p, _, g = ref.reference(1.5, obs, {"a": a, "b": b})  # descending / closing: aimed at a's centre
    np.testing.assert_allclose(p[:2], a.pos[:2], atol=1e-9)
    assert abs(p[2] - (-0.085)) < 1e-9  # the planned height, clipped to a's centre ± a quarter of its half height
    # approach funnel: a gripper still 10 cm away (horizontally) is kept pregrasp_height above the grasp point
    p_far, _, _ = ref.reference(0.5, {"robot0_eef_pos": np.array([0.40, 0.0, 0.0])}, {"a": a, "b": b})
    np.testing.assert_allclose(p_far[:2], ee.position[0][:2] + (a.pos - ee.position[1])[:2], atol=1e-9)
    assert p_far[2] >= -0.085 + ref.cfg.pregrasp_height - 1e-9
    # 2 cm off-centre (inside the funnel, outside pregrasp_inner) the pads stay above a's top: a rim is not knocked
    from policy.retarget.objects import FINGER_HALF_SIZE

    p_off, _, _ = ref.reference(0.9, {"robot0_eef_pos": np.array([0.52, 0.0, -0.05])}, {"a": a, "b": b})
    assert p_off[2] >= a.top + FINGER_HALF_SIZE[0] + ref.cfg.finger_clearance - 1e-9
    p_in, _, _ = ref.reference(0.9, {"robot0_eef_pos": np.array([0.505, 0.0, -0.05])}, {"a": a, "b": b})
    assert p_in[2] < a.top  # within pregrasp_inner it may go down
    # cube a was nudged 1 cm before the fingers closed: the grasp follows it
    a2 = _box("a", (0.51, 0.0, -0.08), 0.02)
    p, _, _ = ref.reference(1.5, obs, {"a": a2, "b": b})
    np.testing.assert_allclose(p[:2], a2.pos[:2], atol=1e-9)
    # carry: the gripper holds a 1 cm off-centre; the object (not the gripper) follows the hand's displacement
    eef = np.array([0.51, 0.01, -0.09])
    held = _box("a", eef - (0.0, 0.01, -0.01), 0.02)
    ref.reference(2.0, {"robot0_eef_pos": eef}, {"a": held, "b": b})  # the carry starts: offset recorded
    p, _, g = ref.reference(3.0, {"robot0_eef_pos": eef}, {"a": held, "b": b})  # at the release point
    assert g == 1.0
    obj_target = held.pos + (ee.position[3] - ee.position[2])
    np.testing.assert_allclose(p, eef + obj_target - held.pos, atol=1e-9)
    # the support was pushed 2 cm: the place moves with it
    b2 = _box("b", (0.62, 0.10, -0.075), 0.025)
    p2, _, _ = ref.reference(3.0, {"robot0_eef_pos": eef}, {"a": held, "b": b2})
    np.testing.assert_allclose(p2 - p, (0.02, 0.0, 0.0), atol=1e-9)
    # the object falls out of the gripper during the carry: after regrasp_steps the clock goes back to re-grasp it
    dropped = _box("a", (0.56, 0.05, -0.08), 0.02)
    for _ in range(int(ref.cfg.regrasp_steps)):
        assert ref.rewind is None
        ref.reference(3.5, {"robot0_eef_pos": eef + (0.0, 0.0, 0.05)}, {"a": dropped, "b": b})
    assert ref.rewind == pytest.approx(max(0.0, c.t_close - ref.cfg.regrasp_lead_s))
    assert any("grasping it again" in e for e in ref.events)
    p, _, g = ref.reference(ref.rewind, {"robot0_eef_pos": eef}, {"a": dropped, "b": b})
    np.testing.assert_allclose(p[:2], dropped.pos[:2], atol=1e-9)  # aims at where it lies now
    # a release high over b but 4 cm beside its top face (an uncertain depth) is moved onto the face
    beside = ObjectAwareReference(_pick_place_traj((0.50, 0.0, -0.085), (0.665, 0.10, -0.015)), {"a": a, "b": b})
    fix = beside.contacts[0].place_fix
    assert beside.contacts[0].support == "b" and fix is not None
    np.testing.assert_allclose(0.50 + (0.665 - 0.50) + fix[0], 0.60 + 0.025 * beside.cfg.support_inset, atol=1e-9)
    assert any("placed on b" in e for e in beside.events)
    # ... but not a release beside b at table height (placing next to it)
    low = ObjectAwareReference(_pick_place_traj((0.50, 0.0, -0.085), (0.665, 0.10, -0.085)), {"a": a, "b": b})
    assert low.contacts[0].place_fix is None
    # nothing near the close point: the plan is followed as it is
    far = ObjectAwareReference(ee, {"b": b})
    assert far.contacts[0].obj is None
    p, _, _ = far.reference(1.5, obs, {"b": b})
    np.testing.assert_allclose(p, ee.position[1])


def test_closing_axis_is_the_direction_the_finger_pads_close_along():
    """_closing_axis(eef quaternion) is the horizontal line through the two finger pads, at home and turned."""
    import mujoco

    from policy.retarget.objects import _closing_axis
    from sim.tasks import make_env

    env = make_env("Lift")
    try:
        obs, _ = env.reset(seed=0)
        m, d = env.unwrapped.sim.model._model, env.unwrapped.sim.data._data
        pads = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f"gripper0_right_finger{i}_pad_collision") for i in (1, 2)]
        for k in range(25):  # turn the gripper about the vertical for a second
            sep = (d.geom_xpos[pads[0]] - d.geom_xpos[pads[1]])[:2]
            assert abs(sep / np.linalg.norm(sep) @ _closing_axis(obs["robot0_eef_quat"])) > 0.99
            obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0.5 if k else 0.0, -1.0]))
        assert abs(_closing_axis(obs["robot0_eef_quat"])[0]) > 0.2  # it did turn away from base y
    finally:
        env.close()


def test_grasp_yaw_hand_follows_the_video_least_turn_the_home_yaw():
    """A cube at yaw 30° grasped by a hand whose closing axis is at 85°: ``hand`` closes across the faces nearest to
    the hand's axis (gripper yaw 120°), ``least_turn`` across the equivalent pair nearest home (30°); a box too wide
    across that pair is closed across the other one (-60°)."""
    from policy.retarget.objects import ObjectAwareConfig, ObjectAwareReference, ObjectState, _closing_axis

    def final_yaw(obj, grasp_yaw):
        ee = _pick_place_traj((0.50, 0.0, -0.085), (0.50, 0.0, 0.0))
        ee = EETrajectory(t=ee.t, position=ee.position, gripper=ee.gripper, frame_id=ee.frame_id,
                          quat_wxyz=np.repeat(topdown_quat(np.radians(85.0))[None], len(ee.t), axis=0))
        ref = ObjectAwareReference(ee, {"a": obj}, ObjectAwareConfig(grasp_yaw=grasp_yaw))
        _, q, _ = ref.reference(1.5, {"robot0_eef_pos": np.array([0.5, 0.0, -0.05])}, {"a": obj})
        ax = _closing_axis(q)
        return np.degrees(np.arctan2(-ax[0], ax[1]))

    cube = _box("a", (0.50, 0.0, -0.08), 0.02, yaw=np.radians(30.0))
    assert final_yaw(cube, "hand") == pytest.approx(120.0, abs=1e-6)
    assert final_yaw(cube, "least_turn") == pytest.approx(30.0, abs=1e-6)
    q30 = np.array([np.cos(np.radians(15.0)), 0.0, 0.0, np.sin(np.radians(15.0))])
    long_box = ObjectState("a", np.array([0.50, 0.0, -0.08]), q30, np.zeros(3), np.array([0.02, 0.05, 0.02]))
    assert final_yaw(long_box, "least_turn") == pytest.approx(-60.0, abs=1e-6)  # 10 cm across the 30° pair
    with pytest.raises(ValueError, match="grasp_yaw"):
        ObjectAwareConfig(grasp_yaw="nearest")


def test_push_goal_from_the_contact_path_and_closed_loop_pusher():
    from policy.retarget.objects import ObjectAwareConfig, PushController, is_push, push_goal

    cube = _box("cube", (0.50, 0.0, -0.082), 0.021)
    # fingertip path: descend 3 cm behind the cube, push 10 cm along +x, lift
    pts = np.array([[0.45, 0.0, 0.05], [0.45, 0.0, -0.085], [0.50, 0.0, -0.085], [0.55, 0.0, -0.085],
                    [0.55, 0.0, 0.05]])  # fmt: skip
    q = np.repeat(topdown_quat(0.0)[None], len(pts), axis=0)
    ee = EETrajectory(t=np.arange(5.0), position=pts, quat_wxyz=q, gripper=np.ones(5), frame_id="robot0_base")
    assert is_push(ee)
    cfg = ObjectAwareConfig()
    name, goal, u, first = push_goal(ee, {"cube": cube}, cfg)
    assert name == "cube" and first == 1
    np.testing.assert_allclose(u, (1.0, 0.0))
    np.testing.assert_allclose(goal[:2], (0.55 + 0.021 + cfg.push_finger_radius, 0.0), atol=1e-9)
    # a box turned 45°: its face, not its corner, ends against the fingers
    turned = push_goal(ee, {"cube": _box("cube", (0.50, 0.0, -0.082), 0.021, yaw=np.pi / 4)}, cfg)[1]
    np.testing.assert_allclose(turned[:2], goal[:2], atol=1e-9)
    # no object in front of the fingers: no push goal
    assert push_goal(ee, {"cube": _box("cube", (0.50, 0.2, -0.082), 0.021)}, cfg) is None
    # the pusher comes from behind the cube, opposite the goal, above it first
    ctl = PushController("cube", goal, cfg)
    target, _, done = ctl.act({"robot0_eef_pos": np.array([0.4, 0.0, 0.1])}, {"cube": cube})
    assert not done and target[0] < cube.pos[0] - 0.021 and target[2] > cube.pos[2] + 0.05
    # pushing: a gripper drifted off the line backs off instead of pushing the cube sideways
    ctl.phase = "push"
    target, _, _ = ctl.act({"robot0_eef_pos": np.array([0.44, 0.03, -0.082])}, {"cube": cube})
    assert ctl.phase == "lift_off" and target[2] > -0.082 + 0.05


def test_finger_collision_and_object_aware_config():
    from policy.retarget.objects import ObjectAwareConfig, finger_collision

    b = _box("b", (0.55, 0.06, -0.075), 0.025)
    tcp = np.array([0.55, 0.0, -0.08])
    assert finger_collision(tcp, np.array([0.0, 1.0]), [b], 0.004)  # fingers open along y: one lands on b
    assert not finger_collision(tcp, np.array([1.0, 0.0]), [b], 0.004)  # along x: clear
    assert RetargetConfig.from_dict({"objects": {"snap_radius": 0.05}}).objects.snap_radius == 0.05
    with pytest.raises(ValueError, match="snap_radius"):
        ObjectAwareConfig(snap_radius=-1.0)
    with pytest.raises(ValueError, match="unknown"):
        RetargetConfig.from_dict({"objects": {"snap": 0.05}})


def test_objects_section_of_the_retarget_config():
    from policy.retarget.config import ObjectAwareConfig
    from policy.retarget.execute import _objects_config

    cfg = load_config("default")
    assert isinstance(cfg.objects, ObjectAwareConfig) and cfg.objects.enabled
    assert cfg.objects == ObjectAwareConfig()  # the YAML spells out the documented defaults
    c2 = cfg.replace(objects={"snap_radius": 0.05, "enabled": False})
    assert c2.objects.snap_radius == 0.05 and not c2.objects.enabled and c2.lift == cfg.lift
    with pytest.raises(ValueError, match="RetargetConfig.objects.snap_radius"):
        cfg.replace(objects={"snap_radius": -1.0})
    with pytest.raises(ValueError, match="RetargetConfig.objects.regrasp_steps"):
        cfg.replace(objects={"regrasp_steps": 2.5})
    with pytest.raises(ValueError, match="RetargetConfig.objects: unknown"):
        RetargetConfig.from_dict({"objects": {"snap": 0.05}})
    # execute_ee_trajectory takes the section, the whole config or True (the default config's section)
    assert _objects_config(c2) is c2.objects and _objects_config(c2.objects) is c2.objects
    assert _objects_config(True) == cfg.objects
    with pytest.raises(TypeError, match="objects="):
        _objects_config("yes")


# ------------------------------------------------------------------------------------- GT demos executed in sim
@pytest.mark.xdist_group("sim")
@pytest.mark.parametrize("task, seed", [("Lift", 1), ("Stack", 0), ("Stack", 7), ("Push", 0)])
def test_retargeted_ground_truth_demo_succeeds_in_sim(task, seed):
    from policy.retarget.rows import run_hand_row
    from sim.tasks import make_env

    env = make_env(task)
    try:
        out = run_hand_row(env, task, seed, None, "oracle")
    finally:
        env.close()
    assert out["success"], out


# ------------------------------------------------------------------------------------------------------------ CLI
@pytest.mark.xdist_group("sim")
def test_cli_on_a_rendered_video(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from hoi2robot.media import write_video
    from policy.retarget.rows import demo_clip

    clip = demo_clip("Lift", 0)
    video, cam = tmp_path / "demo.mp4", tmp_path / "camera.yaml"
    write_video(video, clip.video, clip.fps, lossless=True)
    clip.camera.save(cam)
    out = tmp_path / "out"
    env = os.environ | {"MUJOCO_GL": "egl"}
    cmd = [sys.executable, "-m", "policy.retarget.cli", str(video), "--camera", str(cam), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"artifacts: {out.resolve()}" in proc.stdout
    for name in ("track.npz", "ee.npz", "ee.json", "overlay.mp4", "trajectory.png", "report.json"):
        assert (out / name).is_file(), name
    ee = EETrajectory.load(out / "ee.json")
    assert ee.frame_id == "robot0_base" and ee.gripper.max() == 1.0
    report = json.loads((out / "report.json").read_text())
    assert report["detected_frames"] > 0 and report["frames"] == clip.num_frames
    if report["missed_frames"]:  # frames without a hand are reported, not fatal
        assert "no hand in" in proc.stdout
    from hoi2robot.media import read_video

    assert read_video(out / "overlay.mp4").shape == clip.video.shape

    # a video without any hand is a clear error
    empty = tmp_path / "empty.mp4"
    write_video(empty, np.repeat(clip.context[None], 5, axis=0), 10.0, lossless=True)
    proc = subprocess.run([*cmd[:3], str(empty), *cmd[4:6], "--out", str(tmp_path / "o2")], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip
    assert proc.returncode == 2
    assert "no hand found in any of the 5 frames" in proc.stderr


@pytest.mark.xdist_group("sim")
def test_bench_grasp_errors_of_the_ground_truth_track_are_zero():
    from policy.retarget.bench import grasp_errors
    from policy.retarget.oracle import track_from_clip
    from policy.retarget.rows import demo_clip

    clip = demo_clip("Lift", 0)
    e = grasp_errors(clip, track_from_clip(clip, min_visible=0), None, "metric")
    assert len(e["all"]) > clip.num_frames // 2 and 0 < len(e["contact"]) < len(e["all"])
    # GT keypoints in metric mode: the ground truth's grasp point, up to the path smoothing
    assert np.median(e["all"]) < 1e-3 and max(e["all"]) < 5e-3
