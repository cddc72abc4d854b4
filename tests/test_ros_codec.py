"""hoi_ros pure modules: sensor_msgs/Image <-> numpy, goal/option/trajectory validation, result conversion.

No ROS graph: message classes only (the ROS 2 wheels and the built hoi_interfaces package must be installed; see
ros2_ws/build_interfaces.sh).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("hoi_interfaces", reason="build it with ros2_ws/build_interfaces.sh")

from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from hoi_ros.image_codec import (  # noqa: E402
    ImageError,
    camera_info_from_model,
    camera_model_from_info,
    decode_image,
    depth_to_image,
    depth_to_metres,
    image_to_rgb,
    rgb_to_image,
)
from hoi_ros.plan_io import (  # noqa: E402
    GoalError,
    GripperSpec,
    Limits,
    ee_path_msg,
    hand_markers,
    joint_trajectory_msg,
    parse_options,
    validate_goal,
    validate_instruction,
    validate_trajectory_msg,
)
from hoi_ros.testing import joint_trajectory_to_msg, make_goal  # noqa: E402

K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _raw(encoding: str, width: int, height: int, step: int, data: bytes, big: int = 0) -> Image:
    msg = Image(encoding=encoding, width=width, height=height, step=step, is_bigendian=big)
    msg.data = data
    return msg


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_color_round_trip(encoding):
    msg = rgb_to_image(RGB, encoding=encoding, frame_id="cam")
    assert msg.encoding == encoding and msg.header.frame_id == "cam"
    assert msg.step * msg.height == len(msg.data)
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


def test_bgr_bytes_are_swapped_and_mono_is_replicated():
    msg = rgb_to_image(RGB, encoding="bgr8")
    raw = np.frombuffer(bytes(msg.data), np.uint8).reshape(48, 64, 3)
    np.testing.assert_array_equal(raw[..., 0], RGB[..., 2])
    gray = RNG.integers(0, 256, (5, 7), dtype=np.uint8)
    out = image_to_rgb(rgb_to_image(gray, encoding="mono8"))
    assert out.shape == (5, 7, 3) and np.array_equal(out[..., 1], gray)


def test_row_padding_is_dropped():
    h, w = 4, 5
    padded = np.zeros((h, w * 3 + 7), np.uint8)
    img = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    padded[:, : w * 3] = img.reshape(h, -1)
    np.testing.assert_array_equal(image_to_rgb(_raw("rgb8", w, h, w * 3 + 7, padded.tobytes())), img)


@pytest.mark.parametrize(
    "msg, match",
    [
        (_raw("jpeg", 4, 4, 12, bytes(48)), "unsupported encoding"),
        (_raw("32FC1", 4, 4, 16, bytes(64)), "unsupported encoding"),
        (_raw("rgb8", 4, 4, 12, bytes(47)), "len\\(data\\)"),
        (_raw("rgb8", 4, 4, 11, bytes(44)), "smaller than one row"),
        (_raw("rgb8", 0, 4, 0, b""), "out of range"),
        (_raw("rgb8", 5000, 1, 15000, bytes(15000)), "out of range"),
        (_raw("rgb8", 4, 4, 100000, bytes(400000)), "implausibly large"),
    ],
)
def test_bad_color_images_are_rejected(msg, match):
    with pytest.raises(ImageError, match=match):
        image_to_rgb(msg)


def test_depth_encodings():
    d = RNG.uniform(0.2, 3.0, (6, 8)).astype(np.float32)
    np.testing.assert_allclose(depth_to_metres(depth_to_image(d)), d)
    np.testing.assert_allclose(depth_to_metres(depth_to_image(d, "16UC1")), d, atol=6e-4)
    big = np.asarray([[1.5]], ">f4")
    np.testing.assert_allclose(depth_to_metres(_raw("32FC1", 1, 1, 4, big.tobytes(), big=1)), [[1.5]])
    nan = d.copy()
    nan[0, 0] = np.nan
    assert depth_to_metres(depth_to_image(nan))[0, 0] == 0.0  # NaN = no reading
    for bad in (np.inf, -1.0, 1e6):
        x = d.copy()
        x[1, 1] = bad
        with pytest.raises(ImageError):
            depth_to_metres(depth_to_image(x))
    with pytest.raises(ImageError, match="unsupported encoding"):
        depth_to_metres(rgb_to_image(RGB))


def test_camera_info_round_trip_and_checks():
    from hoi2robot.contracts import CameraModel

    cam = CameraModel(name="cam", K=K, width=64, height=48, base_T_cam=np.eye(4))
    info = camera_info_from_model(cam)
    back = camera_model_from_info(info, np.eye(4), expected_size=(64, 48))
    assert back == cam
    with pytest.raises(ImageError, match="64x48"):
        camera_model_from_info(info, np.eye(4), expected_size=(32, 24))
    info.k = [np.nan] + list(info.k[1:])
    with pytest.raises(ImageError, match="NaN"):
        camera_model_from_info(info, np.eye(4), expected_size=(64, 48))
    info = camera_info_from_model(cam)
    bad_T = np.eye(4)
    bad_T[0, 0] = 2.0
    with pytest.raises(ImageError, match="base_T_cam"):
        camera_model_from_info(info, bad_T)
    info.k = [0.0] * 9
    with pytest.raises(ImageError, match="fx, fy > 0"):
        camera_model_from_info(info, np.eye(4))


def test_instruction_and_options():
    assert validate_instruction("  pick up the cube ") == "pick up the cube"
    for bad in ("", "   ", "x" * 1001, "a\x00b", 5):
        with pytest.raises(GoalError):
            validate_instruction(bad)
    assert parse_options("").publish is True
    opts = parse_options(json.dumps({"q0": [0.1] * 7, "publish": False}))
    assert opts.publish is False and opts.q0.shape == (7,)
    for bad in ("[1]", "{", '{"speed": 1}', '{"q0": [1, 2]}', '{"q0": [NaN, 0, 0, 0, 0, 0, 0]}', '{"publish": 1}',
                "[" * 100000):
        with pytest.raises(GoalError):
            parse_options(bad)


def test_validate_goal_accepts_a_good_goal_and_names_bad_fields():
    depth = np.full((48, 64), 0.8, np.float32)
    inputs = validate_goal(make_goal(RGB, K, "lift the cube", seed=3, depth=depth), Limits(), np.eye(4))
    assert inputs.image.shape == (48, 64, 3) and inputs.seed == 3 and inputs.depth.shape == (48, 64)
    assert validate_goal(make_goal(RGB, K, "lift"), Limits(), np.eye(4)).depth is None
    with pytest.raises(GoalError, match="depth is 32x24"):
        validate_goal(make_goal(RGB, K, "lift", depth=depth[:24, :32]), Limits(), np.eye(4))
    with pytest.raises(GoalError, match="image:"):
        validate_goal(make_goal(None, K, "lift"), Limits(), np.eye(4))
    with pytest.raises(GoalError, match="camera_info:"):
        validate_goal(make_goal(RGB, None, "lift"), Limits(), np.eye(4))
    with pytest.raises(GoalError, match="seed"):
        validate_goal(make_goal(RGB, K, "lift", seed=-1), Limits(), np.eye(4))
    with pytest.raises(GoalError, match="out of range"):
        validate_goal(make_goal(RGB, K, "lift"), Limits(max_image_side=32), np.eye(4))


def _joints(T=5):
    from hoi2robot.contracts import JointTrajectory

    t = np.linspace(0.0, 1.0, T)
    return JointTrajectory(t=t + 2.0, positions=np.outer(t, np.arange(1, 8) * 0.1),
                           joint_names=tuple(f"robot0_joint{i}" for i in range(1, 8)), gripper=t)


def test_trajectory_message_round_trip():
    names = [f"panda_joint{i}" for i in range(1, 8)]
    grip = GripperSpec()
    jt = _joints()
    msg = joint_trajectory_msg(jt, names, grip, "panda_link0")
    assert msg.joint_names == names + ["panda_finger_joint1"] and len(msg.points) == 5
    assert msg.points[0].time_from_start.sec == 0 and msg.points[-1].time_from_start.sec == 1
    t, q, g = validate_trajectory_msg(msg, names, grip)
    np.testing.assert_allclose(t, jt.t - 2.0, atol=1e-9)
    np.testing.assert_allclose(q, jt.positions)
    np.testing.assert_allclose(g, jt.gripper)
    with pytest.raises(ValueError, match="7 joints"):
        joint_trajectory_msg(jt, names[:6])
    no_grip = joint_trajectory_msg(jt, names)
    assert validate_trajectory_msg(no_grip, names, grip)[2] is None


@pytest.mark.parametrize("mutate, match", [
    (lambda m: m.joint_names.__setitem__(0, "elbow"), "lacks joints"),
    (lambda m: m.joint_names.append("panda_joint1"), "duplicates"),
    (lambda m: m.points.clear(), "points"),
    (lambda m: setattr(m.points[1], "positions", [0.0] * 3), "positions"),
    (lambda m: setattr(m.points[1], "positions", [float("nan")] * 8), "finite"),
    (lambda m: setattr(m.points[2].time_from_start, "sec", 0), "strictly increasing"),
    (lambda m: setattr(m.points[-1].time_from_start, "sec", 10_000), "lasts"),
])  # fmt: skip
def test_bad_trajectories_are_rejected(mutate, match):
    names = [f"panda_joint{i}" for i in range(1, 8)]
    t = np.arange(4) * 0.5
    msg = joint_trajectory_to_msg(t, np.zeros((4, 7)), np.zeros(4), names)
    mutate(msg)
    with pytest.raises(GoalError, match=match):
        validate_trajectory_msg(msg, names, GripperSpec())


def test_path_and_markers():
    from hoi2robot.contracts import CameraModel, EETrajectory, HandTrack

    T = 4
    ee = EETrajectory(t=np.arange(T) * 0.1, position=np.tile([0.5, 0.0, 0.1], (T, 1)),
                      quat_wxyz=np.tile([1.0, 0, 0, 0], (T, 1)), gripper=np.zeros(T))
    path = ee_path_msg(ee, "panda_link0")
    assert len(path.poses) == T and path.poses[2].pose.position.x == 0.5 and path.header.frame_id == "panda_link0"
    base_T_cam = np.eye(4)
    base_T_cam[:3, 3] = [0.5, 0.0, 0.8]
    base_T_cam[:3, :3] = np.diag([1.0, -1.0, -1.0])  # looking down
    cam = CameraModel(name="c", K=K, width=64, height=48, base_T_cam=base_T_cam)
    valid = np.zeros((T, 2), bool)
    valid[:, 1] = True
    kp = np.zeros((T, 2, 21, 2), np.float32)
    kp[:, 1] = [32.0, 24.0]  # the principal point: straight below the camera
    track = HandTrack(keypoints_2d=kp, keypoints_world=np.zeros((T, 2, 21, 3), np.float32),
                      score=valid.astype(np.float32), valid=valid, fps=10.0, image_size=(64, 48))
    markers = hand_markers(track, cam, ee, "panda_link0")
    kinds = [m.ns for m in markers.markers]
    assert kinds == ["", "hand_right_keypoints", "hand_right_skeleton"]
    p = markers.markers[1].points[0]
    assert abs(p.x - 0.5) < 1e-6 and abs(p.y) < 1e-6 and abs(p.z - 0.1) < 1e-6  # at the gripper's depth
