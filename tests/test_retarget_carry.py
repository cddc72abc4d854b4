"""policy.retarget: a pick and place read from a hand that is often out of sight.

The hand's entry into the view is not a pick unless it rests there (``gripper.entry_s`` / ``rest_s``), and a clear
pick-and-place motion is a grasp even when the aperture does not change; a release the hand was not seen doing is
placed from the last sight of it (``Retargeter._release_frames``); a carry is raised over what the context frame
shows (``approach.carry_clearance``) and one seen edge-on is not lifted through the table; a grasp is anchored on
the object's axis (``lift.grasp_anchor``); a push's contact frames are those on the push plane that best match the
hand's apparent size (``lift.push_contact``).
"""
from __future__ import annotations

import numpy as np
import pytest

from policy.retarget import RetargetConfig, Retargeter, load_config
from policy.retarget.gripper import pick_place_from_motion
from policy.retarget.retargeter import RetargetReport
from tests.test_retarget_push import LIFT, PROM
from tests.test_retarget_support import TABLE_Z, scene_depth, tilted_camera


def test_the_hands_entry_is_no_pick_unless_it_rests_there():
    # enters from the image's lower edge (its second frame lower still), rises, then one lift: no pick and place
    v = np.concatenate([[170.0, 186.0], LIFT[1:]])
    ok = np.ones(len(v), bool)
    assert pick_place_from_motion(v, ok, prominence=PROM) is not None  # without the frame rate: read as two bottoms
    assert pick_place_from_motion(v, ok, prominence=PROM, fps=10.0) is None
    # first seen at the object (frames 0-3 unseen), resting there 1 s, then a carry and a place: a pick and place
    v = np.array([0, 0, 0, 0, 118, 120, 121, 121, 120, 100, 80, 70, 70, 75, 90, 100, 101, 100, 80, 60, 50, 50], float)
    ok = np.arange(len(v)) >= 4
    v[~ok] = np.nan
    assert pick_place_from_motion(v, ok, prominence=PROM) is None  # its descent to the first bottom is not seen
    assert pick_place_from_motion(v, ok, prominence=PROM, fps=5.0) == (4, 18)
    # the same at 20 fps rests only 0.25 s: the entry of a hand that goes on moving
    assert pick_place_from_motion(v, ok, prominence=PROM, fps=20.0) is None
    assert pick_place_from_motion(v, ok, prominence=PROM, fps=20.0, rest_s=0.2) == (4, 18)
    with pytest.raises(ValueError, match=r"gripper.rest_s"):
        RetargetConfig.from_dict({"gripper": {"rest_s": -1.0}})


def test_a_release_not_seen_is_placed_from_the_last_sight_of_the_hand():
    rt = Retargeter(load_config("default"))
    t = np.arange(24) / 5.0
    grip = np.zeros(24)
    grip[5:20] = 1.0
    valid = np.ones(24, bool)
    assert rt._release_frames(grip, valid, t) == [19]
    valid[17:21] = False  # lost while letting go: last seen 0.6 s before the gripper opens
    assert rt._release_frames(grip, valid, t) == [16]
    valid[12:17] = False  # lost for longer than filter.max_gap_s (1 s): no release anchor
    assert rt._release_frames(grip, valid, t) == []
    grip[5:] = 1.0  # held to the end of the clip: no release
    assert rt._release_frames(grip, np.ones(24, bool), t) == []


def _carry(n: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """A grasp point carried 3 cm above its pick height from (0.5, -0.15) to (0.5, 0.15), the gripper closed."""
    y = np.linspace(-0.15, 0.15, n)
    gp = np.column_stack([np.full(n, 0.5), y, TABLE_Z + 0.03 + 0.03 * np.sin(np.linspace(0, np.pi, n))])
    return gp, np.ones(n)


def test_a_carry_is_raised_over_a_wall_and_left_alone_without_one():
    cam = tilted_camera()
    gp, grip = _carry()
    grip[-1] = 0.0  # released at the last frame
    wall = scene_depth(cam, [((0.40, -0.01, TABLE_Z), (0.65, 0.01, TABLE_Z + 0.12))])  # 2 cm thick, 12 cm tall
    rt = Retargeter(load_config("default").replace(lift={"table_z": TABLE_Z}))
    c, r = rt.cfg.approach.carry_clearance, rt.cfg.approach.carry_radius
    assert c > 0
    out = rt._clear_carries(gp, grip, cam, wall, RetargetReport())
    near = np.abs(gp[:, 1]) < r - 0.012  # the disc around the grasp point overlaps the wall
    # the held object hangs 3 cm below the grasp point (the pick's height above the table): its bottom clears the
    # wall's top by the clearance
    assert np.all(out[near, 2] - 0.03 >= TABLE_Z + 0.12 + c - 1e-3)
    np.testing.assert_allclose(out[:, :2], gp[:, :2])
    np.testing.assert_allclose(out[[0, -2, -1]], gp[[0, -2, -1]])  # grasp and release points stay
    assert np.all(out[:, 2] >= gp[:, 2])
    rt._cloud = None  # another context frame
    flat = scene_depth(cam, [])
    np.testing.assert_allclose(rt._clear_carries(gp, grip, cam, flat, RetargetReport()), gp)
    with pytest.raises(ValueError, match=r"approach.carry_clearance"):
        RetargetConfig.from_dict({"approach": {"carry_clearance": -0.01}})


def _rays(cam, pts):
    uv = cam.project(pts)[0]
    R = cam.base_T_cam[:3, :3]
    rays = np.linalg.solve(cam.K, np.column_stack([uv, np.ones(len(uv))]).T).T @ R.T
    return uv, rays


@pytest.mark.parametrize("scale", [0.8, 1.3])
def test_push_contact_tells_a_slide_away_from_a_rise(scale):
    cam = tilted_camera()
    rt = Retargeter(load_config("default").replace(lift={"table_z": TABLE_Z}))
    h = TABLE_Z + rt.cfg.lift.push_plane_height
    rng = np.random.default_rng(0)
    # descends 6 cm onto the plane (frames 0-3), slides 12 cm away from the camera (4-19), rises 10 cm (20-25)
    down = [(0.50, 0.0, h + 0.06 * (1 - k / 3)) for k in range(4)]
    slide = [(0.50 + 0.12 * k / 15, 0.0, h) for k in range(16)]
    up = [(0.62, 0.0, h + 0.10 * (k + 1) / 6) for k in range(6)]
    pts = np.array(down + slide + up)
    uv, rays = _rays(cam, pts)
    zs = scale * (pts - cam.base_T_cam[:3, 3]) @ cam.base_T_cam[:3, 2] * np.exp(rng.normal(0, 0.02, len(pts)))
    valid = np.ones(len(pts), bool)
    contact = rt._push_contact(cam, uv, rays, zs, valid, h)
    on = np.flatnonzero(contact)
    assert on[0] in (2, 3, 4) and on[-1] in (18, 19, 20)
    # the same pixels with the apparent size of a hand rising vertically from frame 4: the contact ends early
    lifted = pts.copy()
    for k in range(4, len(pts)):
        s = rt._ray_vertical_line(cam.base_T_cam[:3, 3], rays[k], pts[3])
        lifted[k] = cam.base_T_cam[:3, 3] + s * rays[k]
    assert np.all(lifted[5:, 2] > h + 0.01)  # the same pixels do rise on the vertical line
    zs2 = scale * (lifted - cam.base_T_cam[:3, 3]) @ cam.base_T_cam[:3, 2] * np.exp(rng.normal(0, 0.02, len(pts)))
    on2 = np.flatnonzero(rt._push_contact(cam, uv, rays, zs2, valid, h))
    assert on2[-1] <= 6
    with pytest.raises(ValueError, match=r"lift.push_contact"):
        RetargetConfig.from_dict({"lift": {"push_contact": "guess"}})


def test_a_grasp_is_anchored_on_the_objects_axis_not_its_visible_surface():
    cam = tilted_camera()
    lo, hi = np.array([0.58, -0.02, TABLE_Z]), np.array([0.62, 0.02, TABLE_Z + 0.04])  # a 4 cm cube
    depth = scene_depth(cam, [(tuple(lo), tuple(hi))])
    rt = Retargeter(load_config("default").replace(lift={"table_z": TABLE_Z}))
    assert rt.cfg.lift.grasp_anchor == "axis"
    centre = (lo + hi) / 2
    for dx in (-0.012, 0.0, 0.012):  # the pads' midpoint seen at different heights / offsets along the axis
        p = centre + (0.0, 0.0, dx)
        uv = cam.project(p[None])[0][0]
        z = rt._object_axis_depth(cam, depth, uv)
        q = cam.unproject(uv[None], np.array([z]))[0]
        assert np.linalg.norm(q[:2] - centre[:2]) < 0.004  # on the axis, within the depth image's sampling
    # the visible surface is nearer the camera than the axis: anchoring there puts the grasp in front of the cube
    uv = cam.project(centre[None])[0][0]
    from policy.retarget.lifting import sample_depth

    surf = sample_depth(depth, uv[None], rt.cfg.lift.anchor_window, rt.cfg.lift.min_depth, rt.cfg.lift.max_depth, 10.0)[0]
    assert np.linalg.norm(cam.unproject(uv[None], np.array([surf]))[0] - centre) > 0.015
    # no object near the ray (the table only): NaN, and the surface rule takes over
    rt._cloud = None  # another context frame
    assert np.isnan(rt._object_axis_depth(cam, scene_depth(cam, []), uv))
    with pytest.raises(ValueError, match=r"lift.grasp_anchor"):
        RetargetConfig.from_dict({"lift": {"grasp_anchor": "guess"}})


def test_a_carry_seen_edge_on_is_not_lifted_through_the_table():
    cam = tilted_camera()
    o = cam.base_T_cam[:3, 3]
    # pick and place on the camera's line of sight (carried straight away from it), a point above the segment
    A, B = np.array([0.50, 0.0, TABLE_Z + 0.03]), np.array([0.70, 0.0, TABLE_Z + 0.03])
    P = np.array([0.62, 0.004, TABLE_Z + 0.10])
    uv, rays = _rays(cam, P[None])
    s = Retargeter._ray_plane(o, rays[0], A, B)
    q = o + s * rays[0]
    # the plane through A and B is nearly the ray's own: its meeting point would be decimetres off; the point of the
    # ray nearest the segment is taken instead (on the ray, near the segment)
    assert abs(q[0] - P[0]) < 0.15 and q[2] > TABLE_Z
    u = np.linspace(0, 1, 201)
    assert np.min(np.linalg.norm(A + u[:, None] * (B - A) - q, axis=1)) < 0.08
    # seen side-on the plane meets the ray where the point is
    A2, B2 = np.array([0.62, -0.10, TABLE_Z + 0.03]), np.array([0.62, 0.10, TABLE_Z + 0.03])
    s2 = Retargeter._ray_plane(o, rays[0], A2, B2)
    np.testing.assert_allclose(o + s2 * rays[0], P, atol=1e-6)


@pytest.mark.xdist_group("sim")
def test_a_pick_and_place_motion_is_a_grasp_when_the_aperture_does_not_change():
    import dataclasses

    from policy.retarget.gripper import closed_runs
    from policy.retarget.oracle import track_from_clip
    from policy.retarget.retargeter import INDEX_TIP, NO_CLOSURE, NO_OBJECT_CONTACT, THUMB_TIP
    from policy.retarget.rows import _retarget_cfg, context_depth, demo_clip

    clip = demo_clip("PickPlaceCan", 0)
    track = track_from_clip(clip, min_visible=0)
    w = track.keypoints_world.copy()
    w[:, :, INDEX_TIP] = w[:, :, THUMB_TIP] + np.float32([0.05, 0.0, 0.0])  # a hand wrapping the can: no closing
    flat = dataclasses.replace(track, keypoints_world=w)
    depth = context_depth("PickPlaceCan", 0)
    rt = Retargeter(_retarget_cfg("depth"))
    rt.retarget(flat, clip.camera, depth)
    rep = rt.last_report
    assert rep.has_grasp and rep.motion_timed and len(closed_runs(rep.gripper_frames)) == 1 and rep.no_grasp is None
    # timed like the ground truth's own aperture (the oracle's gripper), within a few frames
    ro = Retargeter(_retarget_cfg("metric"))
    ro.retarget(track, clip.camera)
    (i, j), (gi, gj) = closed_runs(rep.gripper_frames)[0], closed_runs(ro.last_report.gripper_frames)[0]
    assert abs(i - gi) <= 3 and abs(j - gj) <= 3
    rt = Retargeter(_retarget_cfg("depth").replace(gripper={"timing": "aperture"}))
    rt.retarget(flat, clip.camera, depth)
    assert not rt.last_report.has_grasp  # the aperture alone sees a push
    assert rt.last_report.no_grasp == NO_CLOSURE and rt.last_report.to_dict()["no_grasp"] == NO_CLOSURE
    # the same grasp over a scene without anything standing on the table closes on nothing: a push, and why
    rt = Retargeter(_retarget_cfg("depth"))
    rt.retarget(track, clip.camera, np.full_like(depth, 3.0))
    assert not rt.last_report.has_grasp and rt.last_report.no_grasp == NO_OBJECT_CONTACT
