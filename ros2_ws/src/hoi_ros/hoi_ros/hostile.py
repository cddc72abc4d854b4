"""Malformed and hostile inputs for the robustness tests and the benchmark: every one must be answered with an error
(result, status message or log line), never a crash.

    for label, goal in hostile_goals(700, seed=0): ...          # GeneratePlan goals
    for label, topic, msg in hostile_topic_messages(400): ...     # image / camera_info / depth / instruction messages
    for label, msg in hostile_trajectories(100): ...              # JointTrajectory messages for the sim bridge
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["hostile_goals", "hostile_topic_messages", "hostile_trajectories", "BIG_IMAGE_BYTES"]

K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])
BIG_IMAGE_BYTES = 4096 * 4096 * 3  # 50.3 MB


def _image(encoding: str = "rgb8", width: int = 64, height: int = 48, step: int | None = None,
           nbytes: int | None = None, big: int = 0, fill: int = 0):
    from sensor_msgs.msg import Image

    bpp = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "32FC1": 4, "16UC1": 2}.get(encoding, 3)
    step = width * bpp if step is None else step
    nbytes = step * height if nbytes is None else nbytes
    msg = Image(encoding=encoding, width=width, height=height, step=step, is_bigendian=big)
    msg.data = bytes([fill]) * nbytes if fill else bytes(nbytes)
    return msg


def _goal(image=None, k=None, instruction: str = "pick up the cube", depth=None, options: str = "", seed: int = 0,
          info_size: tuple[int, int] | None = None):
    from hoi_interfaces.action import GeneratePlan

    goal = GeneratePlan.Goal(instruction=instruction, options_json=options, seed=seed)
    goal.image = _image() if image is None else image
    goal.camera_info.width, goal.camera_info.height = info_size or (goal.image.width, goal.image.height)
    goal.camera_info.k = (K if k is None else np.asarray(k, np.float64)).ravel().tolist()
    if depth is not None:
        goal.depth = depth
    return goal


def _depth32(values: np.ndarray):
    from hoi_ros.image_codec import depth_to_image

    return depth_to_image(values.astype(np.float32))


def _goal_makers(rng: np.random.Generator) -> list[tuple[str, Any]]:
    nan_k = K.copy()
    nan_k[0, 0] = np.nan
    inf_k = K.copy()
    inf_k[1, 2] = np.inf
    bad_depth = np.full((48, 64), 1.0)
    bad_depth[3, 3] = np.inf
    neg_depth = -np.ones((48, 64))
    bad_encodings = ["jpeg", "png", "RGB8", "", "yuv422", "8UC3", "rgb16", "\u00e9"]
    words = ["pick", "up", "the", "cube", "\u2603", "\U0001F600", "'; DROP TABLE", "../../etc/passwd", "%s%n", "\\x00"]
    return [
        ("encoding: unknown", lambda: _goal(_image(encoding=str(rng.choice(bad_encodings))))),
        ("encoding: depth as color", lambda: _goal(_image("32FC1"))),
        ("encoding: 16UC1 as color", lambda: _goal(_image("16UC1"))),
        ("size: data too short", lambda: _goal(_image(nbytes=int(rng.integers(0, 64 * 48 * 3))))),
        ("size: data too long", lambda: _goal(_image(nbytes=64 * 48 * 3 + int(rng.integers(1, 5000))))),
        ("size: step too small", lambda: _goal(_image(step=int(rng.integers(0, 64 * 3))))),
        ("size: zero width", lambda: _goal(_image(width=0, step=0, nbytes=0))),
        ("size: zero height", lambda: _goal(_image(height=0, nbytes=0))),
        ("size: huge dims, small data",
         lambda: _goal(_image(width=int(rng.integers(4097, 2**31 - 1)), height=2, step=3, nbytes=6))),
        ("size: step overflow", lambda: _goal(_image(step=2**32 - 1, nbytes=10))),
        ("size: big-endian flag 1 on rgb8 ok but wrong size", lambda: _goal(_image(big=1, nbytes=100))),
        ("camera_info: NaN K", lambda: _goal(k=nan_k)),
        ("camera_info: inf K", lambda: _goal(k=inf_k)),
        ("camera_info: zero K", lambda: _goal(k=np.zeros((3, 3)))),
        ("camera_info: negative focal", lambda: _goal(k=K * np.array([[-1, 1, 1], [1, 1, 1], [1, 1, 1]]))),
        ("camera_info: size mismatch", lambda: _goal(info_size=(int(rng.integers(1, 5000)), 7))),
        ("depth: wrong encoding", lambda: _goal(depth=_image("rgb8"))),
        ("depth: size mismatch", lambda: _goal(depth=_depth32(np.ones((24, 32))))),
        ("depth: inf", lambda: _goal(depth=_depth32(bad_depth))),
        ("depth: negative", lambda: _goal(depth=_depth32(neg_depth))),
        ("depth: bad step", lambda: _goal(depth=_image("32FC1", step=7))),
        ("instruction: empty", lambda: _goal(instruction="")),
        ("instruction: blank", lambda: _goal(instruction=" \t\n " * int(rng.integers(1, 50)))),
        ("instruction: 100 KB", lambda: _goal(instruction="x" * 100_000)),
        ("instruction: 1001 chars", lambda: _goal(instruction="y" * 1001)),
        ("instruction: control chars",
         lambda: _goal(instruction="pick\x07up\x1b[31m" + " ".join(rng.choice(words, 5)))),
        ("options: not JSON", lambda: _goal(options="{" + "x" * int(rng.integers(0, 100)))),
        ("options: array", lambda: _goal(options="[1, 2, 3]")),
        ("options: unknown key", lambda: _goal(options=json.dumps({str(rng.choice(words)): 1}))),
        ("options: q0 wrong length", lambda: _goal(options=json.dumps({"q0": [0.0] * int(rng.integers(0, 7))}))),
        ("options: q0 NaN", lambda: _goal(options='{"q0": [NaN, 0, 0, 0, 0, 0, 0]}')),
        ("options: q0 huge", lambda: _goal(options=json.dumps({"q0": [1e9] * 7}))),
        ("options: deep nesting", lambda: _goal(options="[" * 5000 + "]" * 5000)),
        ("options: 1 MB", lambda: _goal(options=json.dumps({"q0": "z" * 1_000_000}))),
        ("options: publish not bool", lambda: _goal(options='{"publish": "yes"}')),
        ("seed: negative", lambda: _goal(seed=-int(rng.integers(1, 2**31)))),
    ]


def hostile_goals(n: int, seed: int = 0, big: int = 2) -> Iterator[tuple[str, Any]]:
    """``n`` malformed GeneratePlan goals, cycling through every category; the first ``big`` are ~50 MB images
    (4096×4096 rgb8 with a wrong step, and a 4097-pixel-wide image with consistent data)."""
    rng = np.random.default_rng(seed)
    makers = _goal_makers(rng)
    for i in range(n):
        if i < big:
            if i % 2 == 0:
                wrong = _image(width=4096, height=4096, step=4096 * 3 + 1, nbytes=BIG_IMAGE_BYTES)
                yield "50 MB: wrong step", _goal(wrong)
            else:
                yield "50 MB: 4097 wide", _goal(_image(width=4097, height=4096))
            continue
        label, make = makers[i % len(makers)]
        yield label, make()


def hostile_topic_messages(n: int, seed: int = 0) -> Iterator[tuple[str, str, Any]]:
    """``n`` (label, topic role, message) for the plan node's topic mode: bad images / camera infos / depth followed
    by instructions (each instruction triggers validation of whatever arrived), plus bad instructions."""
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import String

    rng = np.random.default_rng(seed)
    bad_images = [
        lambda: _image("jpeg"),
        lambda: _image(nbytes=17),
        lambda: _image(step=1),
        lambda: _image(width=0, step=0, nbytes=0),
        lambda: _image(width=100_000, height=1, step=300_000, nbytes=3),
    ]
    bad_instr = ["", "   ", "x" * 100_000, "\x01\x02", "y" * 1001]  # (a NUL would end the string on the wire)
    for i in range(n):
        kind = i % 4
        if kind == 0:
            yield "image: malformed", "image", bad_images[int(rng.integers(len(bad_images)))]()
        elif kind == 1:
            info = CameraInfo(width=int(rng.integers(0, 10_000)), height=int(rng.integers(0, 10_000)))
            info.k = [float(x) for x in rng.choice([np.nan, np.inf, 0.0, -1.0, 1e308], 9)]
            yield "camera_info: malformed", "camera_info", info
        elif kind == 2:
            yield "depth: malformed", "depth", _image("32FC1", nbytes=int(rng.integers(0, 100)))
        else:
            text = bad_instr[int(rng.integers(len(bad_instr)))] if rng.random() < 0.5 else "pick up the cube"
            yield "instruction", "instruction", String(data=text)


def hostile_trajectories(n: int, joint_names: list[str], seed: int = 0) -> Iterator[tuple[str, Any]]:
    """``n`` malformed trajectory_msgs/JointTrajectory messages for the sim bridge."""
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    rng = np.random.default_rng(seed)

    def traj(names, rows, times):
        msg = JointTrajectory()
        msg.joint_names = list(names)
        for r, t in zip(rows, times):
            pt = JointTrajectoryPoint()
            pt.positions = [float(x) for x in r]
            pt.time_from_start.sec, pt.time_from_start.nanosec = int(t), int((t % 1) * 1e9)
            msg.points.append(pt)
        return msg

    good_t = [0.0, 0.5, 1.0]
    makers = [
        ("no points", lambda: traj(joint_names, [], [])),
        ("unknown joint", lambda: traj(joint_names[:6] + ["elbow"], [[0.0] * 7] * 3, good_t)),
        ("missing joint", lambda: traj(joint_names[:5], [[0.0] * 5] * 3, good_t)),
        ("duplicate joint", lambda: traj(joint_names + [joint_names[0]], [[0.0] * 8] * 3, good_t)),
        ("NaN position", lambda: traj(joint_names, [[np.nan] * 7] * 3, good_t)),
        ("inf position", lambda: traj(joint_names, [[np.inf] * 7] * 3, good_t)),
        ("short row", lambda: traj(joint_names, [[0.0] * int(rng.integers(0, 7))] * 3, good_t)),
        ("time not increasing", lambda: traj(joint_names, [[0.0] * 7] * 3, [0.0, 1.0, 0.5])),
        ("too long", lambda: traj(joint_names, [[0.0] * 7] * 2, [0.0, 1e6])),
        ("huge positions", lambda: traj(joint_names, [[1e12] * 7] * 3, good_t)),
    ]
    for i in range(n):
        label, make = makers[i % len(makers)]
        yield label, make()
