"""policy.retarget: where a release puts the held object down (``Retargeter._support_depth``, ``lift.support_*``).

Synthetic context depth images of a table with boxes (ray casting, sides included) seen by a tilted camera; a release
pixel's depth must land the grasp point as high above the support as it was above the table at the pick.
"""
from __future__ import annotations

import numpy as np
import pytest

from hoi2robot.contracts import CameraModel
from policy.retarget import RetargetConfig, Retargeter, load_config

TABLE_Z = -0.1


def tilted_camera(y: float = 0.0, yaw: float = 0.0, size: int = 256, tilt: float = 0.6) -> CameraModel:
    """A camera at (0.2, ``y``, 0.5), 0.6 m above the table, looking down and forward (``tilt`` rad from straight
    down, towards +x turned by ``yaw`` about z): with no yaw its optical axis meets the table near x = 0.61."""
    R = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])  # columns: camera x, y, z in base
    c, s = np.cos(tilt), np.sin(tilt)
    R = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]]) @ R
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ R
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, (0.2, y, 0.5)
    K = np.array([[220.0, 0, (size - 1) / 2], [0, 220.0, (size - 1) / 2], [0, 0, 1]])
    return CameraModel("test", K, size, size, T)


def scene_depth(cam: CameraModel, boxes: list[tuple[tuple, tuple]]) -> np.ndarray:
    """z-depth image of the table plane ``TABLE_Z`` and axis-aligned boxes ``(low xyz, high xyz)`` (slab ray cast)."""
    H, W = cam.height, cam.width
    v, u = np.mgrid[0:H, 0:W]
    d = np.linalg.solve(cam.K, np.stack([u.ravel(), v.ravel(), np.ones(H * W)])).T @ cam.base_T_cam[:3, :3].T
    o = cam.base_T_cam[:3, 3]
    best = np.where(d[:, 2] < 0, (TABLE_Z - o[2]) / np.where(d[:, 2] < 0, d[:, 2], -1.0), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo, hi in boxes:
            t1, t2 = (np.array(lo) - o) / d, (np.array(hi) - o) / d
            near = np.nanmax(np.minimum(t1, t2), axis=1)
            far = np.nanmin(np.maximum(t1, t2), axis=1)
            hit = (near <= far) & (near > 0)
            best = np.where(hit & (near < best), near, best)
    return best.reshape(H, W).astype(np.float32)  # camera z = 1 per unit ray: the ray parameter is the z-depth


def release_error(cam: CameraModel, depth: np.ndarray, place: np.ndarray, **lift) -> float:
    """Distance (m) between ``place`` and the release point found along its pixel's ray (a pick 2 cm above the
    table far from everything)."""
    rt = Retargeter(load_config("default").replace(lift={"table_z": TABLE_Z, "release_clearance": 0.0, **lift}))
    pick = np.array([0.45, -0.25, TABLE_Z + 0.02])
    uv = cam.project(place[None])[0][0]
    z = rt._support_depth(cam, depth, uv, pick)
    return float(np.linalg.norm(cam.unproject(uv[None], np.array([z]))[0] - place)) if np.isfinite(z) else np.inf


def test_release_into_a_container_lands_on_its_floor_not_its_thin_rim():
    cam = tilted_camera()
    # a 2 cm thin, 10 cm tall wall (a bin's rim) in front of the place on the table behind it
    depth = scene_depth(cam, [((0.55, -0.10, TABLE_Z), (0.57, 0.15, TABLE_Z + 0.10))])
    place = np.array([0.61, 0.03, TABLE_Z + 0.02])
    assert release_error(cam, depth, place) < 0.01
    # every surface a support (no minimum width): the ray stops on the rim
    assert release_error(cam, depth, place, support_min_width=0.0) > 0.03


def test_release_beyond_crossing_dividers_lands_on_the_floor():
    cam = tilted_camera(y=-0.3, yaw=0.72)
    # two 2 cm thin, 15 cm tall dividers crossing at (0.58, 0): the crossing is a 2 cm square with four arms, on
    # which a disc up to about 1.4 times as wide still fits
    walls = [((0.57, -0.15, TABLE_Z), (0.59, 0.15, TABLE_Z + 0.15)),
             ((0.40, -0.01, TABLE_Z), (0.75, 0.01, TABLE_Z + 0.15))]
    depth = scene_depth(cam, walls)
    place = np.array([0.68, 0.079, TABLE_Z + 0.02])  # in the far quarter; its pixel's ray passes over the crossing
    uv = cam.project(place[None])[0][0]
    assert np.all((uv > 10) & (uv < 245))
    s = np.linspace(0.3, 1.0, 400)
    ray = cam.unproject(np.repeat(uv[None], len(s), axis=0), s)
    assert np.min(np.linalg.norm(ray[:, :2] - (0.58, 0.0), axis=1)) < 0.005  # the scene tests what it claims
    assert release_error(cam, depth, place) < 0.01
    assert release_error(cam, depth, place, support_min_width=0.025) > 0.03  # fits on the crossing: stops there


def test_release_near_a_box_edge_lands_on_its_top_and_a_narrow_post_is_no_support():
    cam = tilted_camera()
    top = TABLE_Z + 0.05
    box = ((0.53, -0.025, TABLE_Z), (0.58, 0.025, top))  # a 5 cm cube
    # the place: on the cube, 1 cm inside its far edge (where a low percentile of the surface around is the table)
    place = np.array([0.57, 0.0, top + 0.02])
    depth = scene_depth(cam, [box])
    assert release_error(cam, depth, place) < 0.01
    # near its edge, just outside the top (within support_radius): still put down on the box
    assert release_error(cam, depth, np.array([0.59, 0.0, top + 0.02])) < 0.015
    # a 1 cm thin post as tall as the cube, right where the ray comes down onto the table: no support
    post = ((0.655, -0.005, TABLE_Z), (0.665, 0.005, top))
    depth = scene_depth(cam, [post])
    place = np.array([0.66, 0.0, TABLE_Z + 0.02])
    assert release_error(cam, depth, place) < 0.01
    assert release_error(cam, depth, place, support_min_width=0.0) > 0.03


def test_release_on_a_box_next_to_where_the_object_was_picked():
    cam = tilted_camera()
    top = TABLE_Z + 0.05
    cube_b = ((0.60, -0.025, TABLE_Z), (0.65, 0.025, top))  # the support: a 5 cm cube
    cube_a = ((0.555, -0.02, TABLE_Z), (0.595, 0.02, TABLE_Z + 0.04))  # the held 4 cm cube, 5 mm in front of it
    depth = scene_depth(cam, [cube_a, cube_b])
    rt = Retargeter(load_config("default").replace(lift={"table_z": TABLE_Z, "release_clearance": 0.0}))
    # the pick, 1 cm off cube A's centre towards B: the cells within 3 cm of it (gone at the release) include B's
    # near edge, which must not narrow B's top below support_min_width
    pick = np.array([0.585, 0.0, TABLE_Z + 0.02])
    for place in (np.array([0.625, 0.0, top + 0.02]), np.array([0.64, 0.01, top + 0.02])):
        uv = cam.project(place[None])[0][0]
        z = rt._support_depth(cam, depth, uv, pick)
        assert np.linalg.norm(cam.unproject(uv[None], np.array([z]))[0] - place) < 0.01


def test_release_clearance_lets_go_that_much_above_the_support():
    cam = tilted_camera()
    depth = scene_depth(cam, [])
    place = np.array([0.62, 0.02, TABLE_Z + 0.02])
    rt = Retargeter(load_config("default").replace(lift={"table_z": TABLE_Z}))
    c = rt.cfg.lift.release_clearance
    assert c > 0
    uv = cam.project(place[None])[0][0]
    z = rt._support_depth(cam, depth, uv, np.array([0.45, -0.25, TABLE_Z + 0.02]))
    p = cam.unproject(uv[None], np.array([z]))[0]
    assert abs(p[2] - (place[2] + c)) < 0.003  # on the same pixel ray, c higher
    assert release_error(cam, depth, place) < 0.005  # and without it, at the place


def _table_with_box_top_depth(cam: CameraModel, table_z: float, box_lo, box_hi, box_top: float) -> np.ndarray:
    """Analytic z-depth image of the table plane with a box's top face (sides ignored) seen by ``cam``."""
    H, W = cam.height, cam.width
    v, u = np.mgrid[0:H, 0:W]
    rays = np.linalg.solve(cam.K, np.stack([u.ravel(), v.ravel(), np.ones(H * W)])).T @ cam.base_T_cam[:3, :3].T
    o = cam.base_T_cam[:3, 3]
    s = (table_z - o[2]) / rays[:, 2]
    s_top = (box_top - o[2]) / rays[:, 2]
    hit = o + s_top[:, None] * rays
    on_box = np.all((hit[:, :2] >= box_lo) & (hit[:, :2] <= box_hi), axis=1)
    s = np.where(on_box, s_top, s)
    return s.reshape(H, W).astype(np.float32)


def test_release_depth_from_the_support_under_it_and_closures_need_an_object():
    # (moved from tests/test_retarget.py) a camera 0.6 m above (0.5, 0, -0.1) looking nearly straight down
    R = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    c, s = np.cos(0.2), np.sin(0.2)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]) @ R, (0.4, 0.0, 0.5)
    cam = CameraModel("test", np.array([[220.0, 0, 127.5], [0, 220.0, 127.5], [0, 0, 1]]), 256, 256, T)
    table_z, top = -0.1, -0.05
    depth = _table_with_box_top_depth(cam, table_z, (0.53, 0.03), (0.57, 0.07), top)
    rt = Retargeter(load_config("default").replace(lift={"table_z": table_z, "release_clearance": 0.0}))
    pick = np.array([0.45, -0.1, table_z + 0.02])  # grasp point 2 cm above the table at the pick
    place = np.array([0.55, 0.05, top + 0.02])  # ...put down on the box: 2 cm above its top
    uv = cam.project(place[None])[0][0]
    z = rt._support_depth(cam, depth, uv, pick)
    np.testing.assert_allclose(cam.unproject(uv[None], np.array([z]))[0], place, atol=0.01)
    # the surface seen at the pixel itself is not the release point (here the box top, 2 cm below it)
    z_pix = depth[int(round(uv[1])), int(round(uv[0]))]
    assert np.linalg.norm(cam.unproject(uv[None], np.array([z_pix]))[0] - place) > 0.015
    # a closure counts only when the hand closes over an object (the box), not over the bare table
    n = 6
    grip = np.array([0, 0, 1, 1, 1, 0], float)
    valid = np.ones(n, bool)
    for point, kept in ((np.array([0.55, 0.05, top + 0.02]), True), (pick, False)):
        gp_cam = np.repeat(((point - cam.base_T_cam[:3, 3]) @ cam.base_T_cam[:3, :3])[None], n, axis=0)
        out = rt._keep_object_contacts(grip, gp_cam, valid, cam, depth)
        np.testing.assert_array_equal(out, grip if kept else np.zeros(n))


def test_support_min_width_is_validated_and_the_percentile_rule_is_gone():
    assert RetargetConfig().lift.support_min_width == load_config("default").lift.support_min_width > 0
    with pytest.raises(ValueError, match=r"lift.support_min_width"):
        RetargetConfig.from_dict({"lift": {"support_min_width": -0.01}})
    with pytest.raises(ValueError, match=r"lift.release_clearance"):
        RetargetConfig.from_dict({"lift": {"release_clearance": 0.5}})
    with pytest.raises(ValueError, match=r"support_percentile"):
        RetargetConfig.from_dict({"lift": {"support_percentile": 20}})
