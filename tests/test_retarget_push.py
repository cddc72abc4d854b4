"""Tracked-hand Lift and Push: the gripper timed by a lift motion, and push goals robust to a misplaced contact start."""
from __future__ import annotations

import numpy as np
import pytest

from hoi2robot.contracts import EETrajectory
from policy.retarget import RetargetConfig, load_config
from policy.retarget.gripper import pick_lift_from_motion, pick_place_from_motion
from policy.retarget.objects import ObjectAwareConfig, ObjectState, push_goal
from policy.retarget.orientation import topdown_quat

PROM = 15.0  # px


def _box(name, pos, half):
    return ObjectState(name, np.asarray(pos, float), np.array([1.0, 0, 0, 0]), np.zeros(3), np.full(3, half))


def _push_traj(points):
    pts = np.asarray(points, float)
    q = np.repeat(topdown_quat(0.0)[None], len(pts), axis=0)
    return EETrajectory(t=np.arange(len(pts), dtype=float), position=pts, quat_wxyz=q, gripper=np.ones(len(pts)),
                        frame_id="robot0_base")  # fmt: skip


# image row of the grasp point (larger = lower in the image), 10 fps
LIFT = np.array([150, 130, 115, 105, 100, 100, 104, 110, 116, 120, 121, 122, 121, 110, 100, 92, 88, 87, 87, 88, 87],
                float)  # fmt: skip
# a push away from the camera: descends to the contact (frame 5), slides (rises in the image), rests for 1.5 s, leaves
PUSH = np.array([100, 105, 112, 120, 128, 135, 135, 128, 121, 114, 108, 104, 103, 103, 103, 103, 103, 103, 103, 103,
                 103, 90, 80, 78, 78], float)  # fmt: skip


def test_a_lift_is_timed_from_its_bottom_and_a_push_is_not_a_lift():
    ok = np.ones(len(LIFT), bool)
    # closes where the bottom plateau starts (within 3 px of the bottom: frames 9-12), held to the end
    assert pick_lift_from_motion(LIFT, ok, fps=10.0, prominence=PROM) == 9
    # a missed frame inside the bottom is interpolated over
    v, ok2 = LIFT.copy(), ok.copy()
    v[10], ok2[10] = np.nan, False
    assert pick_lift_from_motion(v, ok2, fps=10.0, prominence=PROM) == 9
    # the hand rests for seconds at the end of its slide before it leaves: no lift (at 10 and at 4 fps)
    assert pick_lift_from_motion(PUSH, np.ones(len(PUSH), bool), fps=10.0, prominence=PROM) is None
    assert pick_lift_from_motion(PUSH, np.ones(len(PUSH), bool), fps=4.0, prominence=PROM) is None
    # pushed towards the camera the slide descends in the image and the rest is a long bottom (2 s): no lift
    toward = np.array([90, 85, 90, 105, 110, 114, 118, 120] + [120] * 10 + [117, 101, 94, 94], float)
    assert pick_lift_from_motion(toward, np.ones(len(toward), bool), fps=5.0, prominence=PROM) is None
    assert pick_lift_from_motion(toward, np.ones(len(toward), bool), fps=5.0, prominence=PROM, max_bottom_s=3.0) == 6
    # still rising when the clip ends (nothing held up), or a rise shallower than the prominence: no lift
    assert pick_lift_from_motion(LIFT[:16], np.ones(16, bool), fps=10.0, prominence=PROM) is None
    assert pick_lift_from_motion(LIFT, ok, fps=10.0, prominence=50.0) is None
    # a slow rise (the same frames at 2 fps: 2 s from the bottom to the top) is no lift with rise_s 1 s
    assert pick_lift_from_motion(LIFT, ok, fps=2.0, prominence=PROM, rise_s=1.0) is None
    # a lift is one bottom: no pick and place
    assert pick_place_from_motion(LIFT, ok, prominence=PROM) is None


def test_a_lift_after_the_hand_entered_low_is_timed_from_its_last_bottom():
    # the hand enters from the image's lower edge (frames 0-1, its second frame lower still), rises, then lifts: the
    # entry can look like a first bottom of a pick and place (whose close the object-contact check then rejects);
    # the lift timing the retargeter falls back on closes at the last bottom
    v = np.concatenate([[170.0, 186.0], LIFT[1:]])
    assert pick_lift_from_motion(v, np.ones(len(v), bool), fps=10.0, prominence=PROM) == 10
    # a pick and place is one: its last bottom (the place) is followed by a rise, but the first one is seen too
    pp = np.concatenate([LIFT[:13], [110, 105, 112, 122, 125, 124, 110, 95, 90, 90]])
    assert pick_place_from_motion(pp, np.ones(len(pp), bool), prominence=PROM) == (9, 19)


def test_push_goal_when_the_contact_start_is_misplaced():
    cfg = ObjectAwareConfig()
    cube = _box("cube", (0.48, 0.07, -0.082), 0.021)
    # tracked push: the descent was lifted 8 cm too far (beyond the cube), the rest at the end is right
    ee = _push_traj([[0.40, 0.30, 0.02], [0.55, 0.08, -0.09], [0.58, 0.08, -0.085], [0.625, 0.09, -0.085],
                     [0.625, 0.09, -0.085], [0.625, 0.09, 0.04]])  # fmt: skip
    name, goal, u, _ = push_goal(ee, {"cube": cube}, cfg)
    d = np.array([0.625 - 0.48, 0.09 - 0.07])
    np.testing.assert_allclose(u, d / np.linalg.norm(d), atol=1e-9)  # from the object to where the fingers stopped
    np.testing.assert_allclose(goal[:2], np.array([0.625, 0.09]) + (0.021 + cfg.push_finger_radius) * u, atol=1e-9)
    assert name == "cube"
    # only the rest was lifted onto the table (a contact path too short for a direction): the same goal
    ee_rest = _push_traj([[0.40, -0.10, 0.08], [0.42, -0.05, 0.0], [0.625, 0.09, -0.085], [0.626, 0.09, -0.085],
                          [0.625, 0.09, 0.04]])  # fmt: skip
    np.testing.assert_allclose(push_goal(ee_rest, {"cube": cube}, cfg)[1], goal, atol=2e-3)
    # no object within push_reach of where the fingers stopped: no push goal; push_reach 0 turns the fallback off
    assert push_goal(ee, {"cube": _box("cube", (0.30, -0.10, -0.082), 0.021)}, cfg) is None
    assert push_goal(ee, {"cube": cube}, RetargetConfig.from_dict({"objects": {"push_reach": 0.0}}).objects) is None
    # the nearest of two objects is the pushed one
    far = _box("far", (0.40, 0.25, -0.082), 0.021)
    assert push_goal(ee, {"far": far, "cube": cube}, cfg)[0] == "cube"


def test_config_keys_of_the_lift_timing_and_push_fallback():
    cfg = load_config("default")
    assert cfg.gripper.lift_rise_s > 0 and 0 < cfg.gripper.lift_hold < 0.1 and cfg.objects.push_reach > 0
    with pytest.raises(ValueError, match=r"lift_rise_s"):
        RetargetConfig.from_dict({"gripper": {"lift_rise_s": -1.0}})
    with pytest.raises(ValueError, match=r"push_reach"):
        RetargetConfig.from_dict({"objects": {"push_reach": "far"}})
