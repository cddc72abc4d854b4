"""Goal validation and result conversion for the plan node (pure: no node, no spinning).

    inputs = validate_goal(goal, limits, base_T_cam)   # -> PlanInputs, or raises GoalError naming the problem
    traj_msg = joint_trajectory_msg(result.joints, names, gripper)  # trajectory_msgs/JointTrajectory
    path_msg = ee_path_msg(result.ee, frame_id)                      # nav_msgs/Path
    markers = hand_markers(result.track, camera, result.ee, frame_id) # visualization_msgs/MarkerArray
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hoi_ros.image_codec import (
    MAX_SIDE,
    ImageError,
    camera_model_from_info,
    depth_to_metres,
    image_is_empty,
    image_to_rgb,
)

__all__ = [
    "GoalError",
    "Limits",
    "PlanInputs",
    "PlanOptions",
    "GripperSpec",
    "OPTION_KEYS",
    "ee_path_msg",
    "hand_markers",
    "joint_trajectory_msg",
    "parse_options",
    "validate_goal",
    "validate_instruction",
    "duration_msg",
    "gripper_trajectory_msg",
    "validate_trajectory_msg",
]

OPTION_KEYS = ("q0", "publish", "publish_video")
MAX_OPTIONS_CHARS = 10_000


class GoalError(ValueError):
    """A goal or message is invalid; the text is what goes into the error result."""


@dataclass(frozen=True)
class Limits:
    """Input limits (node parameters)."""

    max_image_side: int = MAX_SIDE
    max_instruction_chars: int = 1000
    max_seed: int = 2**31 - 1


@dataclass(frozen=True)
class PlanOptions:
    q0: np.ndarray | None = None
    publish: bool = True
    publish_video: bool = True


@dataclass
class PlanInputs:
    image: np.ndarray  # H×W×3 uint8 RGB
    camera: Any  # hoi2robot.contracts.CameraModel
    instruction: str
    depth: np.ndarray | None = None  # H×W float32 metres
    seed: int = 0
    options: PlanOptions = field(default_factory=PlanOptions)


@dataclass(frozen=True)
class GripperSpec:
    """How the [0, 1] gripper command becomes a joint position (panda_finger_joint1: 0.04 m open, 0 closed)."""

    joint_name: str = "panda_finger_joint1"
    open_position: float = 0.04
    closed_position: float = 0.0

    def position(self, command: np.ndarray) -> np.ndarray:
        return self.open_position + np.asarray(command, np.float64) * (self.closed_position - self.open_position)

    def command(self, position: float) -> float:
        span = self.closed_position - self.open_position
        return float(np.clip((position - self.open_position) / span, 0.0, 1.0)) if span else 0.0


def validate_instruction(text: Any, limits: Limits = Limits()) -> str:
    if not isinstance(text, str):
        raise GoalError(f"instruction must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise GoalError("instruction is empty; expected 1..%d characters" % limits.max_instruction_chars)
    if len(text) > limits.max_instruction_chars:
        raise GoalError(f"instruction has {len(text)} characters; expected at most {limits.max_instruction_chars}")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        raise GoalError("instruction contains control characters")
    return stripped


def _reject_constant(name: str) -> Any:
    raise GoalError(f"options_json: {name} is not allowed")


def parse_options(text: Any) -> PlanOptions:
    """Parse ``options_json``: "" or a JSON object with keys from :data:`OPTION_KEYS` (others are rejected)."""
    if not isinstance(text, str):
        raise GoalError(f"options_json must be a string, got {type(text).__name__}")
    if not text.strip():
        return PlanOptions()
    if len(text) > MAX_OPTIONS_CHARS:
        raise GoalError(f"options_json has {len(text)} characters; expected at most {MAX_OPTIONS_CHARS}")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GoalError(f"options_json is not valid JSON ({exc.msg} at {exc.pos})") from exc
    except RecursionError as exc:
        raise GoalError("options_json is nested too deeply") from exc
    if not isinstance(obj, dict):
        raise GoalError(f"options_json must be a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(OPTION_KEYS))
    if unknown:
        raise GoalError(f"unknown option(s) {unknown}; known: {list(OPTION_KEYS)}")
    q0 = obj.get("q0")
    if q0 is not None:
        numbers = isinstance(q0, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in q0)
        if not numbers or len(q0) != 7:
            raise GoalError("option q0 must be a list of 7 numbers (joint positions, rad)")
        q0 = np.asarray(q0, np.float64)
        if not np.all(np.isfinite(q0)) or np.any(np.abs(q0) > 2 * math.pi):
            raise GoalError("option q0 must hold finite joint positions within [-2pi, 2pi]")
    flags = {}
    for key in ("publish", "publish_video"):
        if key in obj:
            if not isinstance(obj[key], bool):
                raise GoalError(f"option {key} must be true or false")
            flags[key] = obj[key]
    return PlanOptions(q0=q0, **flags)


def validate_goal(goal: Any, limits: Limits, base_T_cam: np.ndarray) -> PlanInputs:
    """Check every field of a GeneratePlan goal; returns decoded inputs or raises :class:`GoalError`."""
    instruction = validate_instruction(goal.instruction, limits)
    options = parse_options(goal.options_json)
    seed = int(goal.seed)
    if not 0 <= seed <= limits.max_seed:
        raise GoalError(f"seed must be in [0, {limits.max_seed}], got {seed}")
    try:
        image = image_to_rgb(goal.image, max_side=limits.max_image_side)
    except ImageError as exc:
        raise GoalError(f"image: {exc}") from exc
    height, width = image.shape[:2]
    try:
        camera = camera_model_from_info(goal.camera_info, base_T_cam, expected_size=(width, height))
    except ImageError as exc:
        raise GoalError(f"camera_info: {exc}") from exc
    depth = None
    if not image_is_empty(goal.depth):
        try:
            depth = depth_to_metres(goal.depth, max_side=limits.max_image_side)
        except ImageError as exc:
            raise GoalError(f"depth: {exc}") from exc
        if depth.shape != (height, width):
            raise GoalError(f"depth is {depth.shape[1]}x{depth.shape[0]} but the image is {width}x{height}")
    return PlanInputs(image=image, camera=camera, instruction=instruction, depth=depth, seed=seed, options=options)


# ----------------------------------------------------------------------------------------------------- results
def duration_msg(seconds: float, msg: Any = None):
    if msg is None:
        from builtin_interfaces.msg import Duration

        msg = Duration()
    ns = int(round(float(seconds) * 1e9))
    msg.sec, msg.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
    return msg


def joint_trajectory_msg(
    joints: Any,
    joint_names: list[str] | tuple[str, ...],
    gripper: GripperSpec | None = None,
    frame_id: str = "",
    stamp: Any = None,
):
    """``trajectory_msgs/JointTrajectory`` from a :class:`hoi2robot.contracts.JointTrajectory`.

    The pipeline's columns are renamed to ``joint_names`` (same count, same order); with ``gripper`` its command
    becomes one more joint (``gripper.joint_name``). Times start at 0 (``time_from_start``); velocities are finite
    differences so the controller interpolates smoothly.
    """
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    positions = np.asarray(joints.positions, np.float64)
    if positions.shape[1] != len(joint_names):
        raise ValueError(f"the plan has {positions.shape[1]} joints ({list(joints.joint_names)}) but joint_names lists "
                         f"{len(joint_names)}: {list(joint_names)}")
    t = np.asarray(joints.t, np.float64) - float(joints.t[0])
    names = list(joint_names)
    if gripper is not None and gripper.joint_name:
        positions = np.concatenate([positions, gripper.position(joints.gripper)[:, None]], axis=1)
        names.append(gripper.joint_name)
    vel = np.gradient(positions, t, axis=0) if len(t) > 1 else np.zeros_like(positions)
    msg = JointTrajectory()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.joint_names = names
    for i in range(len(t)):
        pt = JointTrajectoryPoint()
        pt.positions = positions[i].tolist()
        pt.velocities = vel[i].tolist()
        duration_msg(t[i], pt.time_from_start)
        msg.points.append(pt)
    return msg


def gripper_trajectory_msg(joints: Any, gripper: GripperSpec, stamp: Any = None):
    """The gripper command alone as a one-joint ``JointTrajectory`` (for a robot whose gripper is not in the arm
    controller)."""
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    msg = JointTrajectory()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.joint_names = [gripper.joint_name or "gripper"]
    t = np.asarray(joints.t, np.float64) - float(joints.t[0])
    for ti, g in zip(t, gripper.position(joints.gripper)):
        pt = JointTrajectoryPoint()
        pt.positions = [float(g)]
        duration_msg(ti, pt.time_from_start)
        msg.points.append(pt)
    return msg


def ee_path_msg(ee: Any, frame_id: str, stamp: Any = None):
    """``nav_msgs/Path`` of the gripper poses of an :class:`~hoi2robot.contracts.EETrajectory` (stamps = plan times
    after ``stamp``)."""
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path

    msg = Path()
    msg.header.frame_id = frame_id
    base_ns = 0
    if stamp is not None:
        msg.header.stamp = stamp
        base_ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    t = np.asarray(ee.t, np.float64) - float(ee.t[0])
    for ti, p, q in zip(t, ee.position, ee.quat_wxyz):
        ps = PoseStamped()
        ps.header.frame_id = frame_id
        ns = base_ns + int(round(ti * 1e9))
        ps.header.stamp.sec, ps.header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
        ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = (float(v) for v in p)
        o = ps.pose.orientation
        o.w, o.x, o.y, o.z = (float(v) for v in q)
        msg.poses.append(ps)
    return msg


def _hand_points_base(track: Any, camera: Any, ee: Any, frame: int, hand: int) -> np.ndarray:
    """21×3 base-frame points of one tracked hand: pixels unprojected at the depth of the planned gripper at that
    time (the tracker's hand-centred metric z added per joint), so the skeleton sits where the plan puts the hand."""
    uv = np.asarray(track.keypoints_2d[frame, hand], np.float64)
    t = frame / float(track.fps)
    i = int(np.clip(np.searchsorted(np.asarray(ee.t) - ee.t[0], t), 0, len(ee.t) - 1))
    p_cam = camera.cam_T_base[:3, :3] @ ee.position[i] + camera.cam_T_base[:3, 3]
    z0 = float(p_cam[2]) if p_cam[2] > 0.05 else 0.6
    kw = np.asarray(track.keypoints_world[frame, hand], np.float64)
    z = np.clip(z0 + (kw[:, 2] - kw[0, 2]), 0.05, None)
    return np.asarray(camera.unproject(uv, z), np.float64).reshape(-1, 3)


def hand_markers(track: Any, camera: Any, ee: Any, frame_id: str, stamp: Any = None, max_frames: int = 30):
    """``visualization_msgs/MarkerArray``: per hand, the 21 keypoints of (up to ``max_frames``) frames as a sphere list
    and the last valid frame's skeleton as a line list, in the robot base frame. Starts with DELETEALL."""
    from geometry_msgs.msg import Point
    from visualization_msgs.msg import Marker, MarkerArray

    from hoi2robot.contracts import HAND_JOINTS

    bones = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
             (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20)]  # fmt: skip
    assert len(HAND_JOINTS) == 21
    out = MarkerArray()
    clear = Marker()
    clear.action = Marker.DELETEALL
    out.markers.append(clear)
    colors = ((0.2, 0.6, 1.0), (1.0, 0.5, 0.1))
    for hand, name in enumerate(("left", "right")):
        frames = np.flatnonzero(np.asarray(track.valid)[:, hand])
        if frames.size == 0:
            continue
        pick = frames[np.linspace(0, frames.size - 1, min(max_frames, frames.size)).round().astype(int)]
        pts = Marker()
        pts.header.frame_id = frame_id
        if stamp is not None:
            pts.header.stamp = stamp
        pts.ns, pts.id, pts.type, pts.action = f"hand_{name}_keypoints", 0, Marker.SPHERE_LIST, Marker.ADD
        pts.scale.x = pts.scale.y = pts.scale.z = 0.008
        pts.pose.orientation.w = 1.0
        pts.color.r, pts.color.g, pts.color.b = colors[hand]
        pts.color.a = 0.6
        for f in pick:
            for p in _hand_points_base(track, camera, ee, int(f), hand):
                pts.points.append(Point(x=float(p[0]), y=float(p[1]), z=float(p[2])))
        out.markers.append(pts)
        sk = Marker()
        sk.header = pts.header
        sk.ns, sk.id, sk.type, sk.action = f"hand_{name}_skeleton", 0, Marker.LINE_LIST, Marker.ADD
        sk.scale.x = 0.004
        sk.pose.orientation.w = 1.0
        sk.color.r, sk.color.g, sk.color.b = colors[hand]
        sk.color.a = 1.0
        last = _hand_points_base(track, camera, ee, int(frames[-1]), hand)
        for a, b in bones:
            sk.points.append(Point(x=float(last[a][0]), y=float(last[a][1]), z=float(last[a][2])))
            sk.points.append(Point(x=float(last[b][0]), y=float(last[b][1]), z=float(last[b][2])))
        out.markers.append(sk)
    return out


def validate_trajectory_msg(
    msg: Any,
    arm_joints: list[str] | tuple[str, ...],
    gripper: GripperSpec | None = None,
    max_points: int = 100_000,
    max_duration: float = 600.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check a received ``trajectory_msgs/JointTrajectory`` and return (t T, arm positions T×J in ``arm_joints`` order,
    gripper command T in [0, 1] or None when the message has no gripper joint). Raises :class:`GoalError`."""
    names = list(msg.joint_names)
    if len(names) != len(set(names)):
        raise GoalError(f"joint_names has duplicates: {names[:20]}")
    missing = [j for j in arm_joints if j not in names]
    if missing:
        raise GoalError(f"trajectory lacks joints {missing}; expected {list(arm_joints)}")
    extra = [j for j in names if j not in arm_joints and not (gripper is not None and j == gripper.joint_name)]
    if extra:
        raise GoalError(f"trajectory names unknown joints {extra[:10]}")
    points = msg.points
    if not 1 <= len(points) <= max_points:
        raise GoalError(f"trajectory has {len(points)} points; expected 1..{max_points}")
    n = len(names)
    t = np.empty(len(points))
    q = np.empty((len(points), n))
    for i, pt in enumerate(points):
        if len(pt.positions) != n:
            raise GoalError(f"point {i} has {len(pt.positions)} positions for {n} joints")
        q[i] = pt.positions
        d = pt.time_from_start
        t[i] = int(d.sec) + int(d.nanosec) * 1e-9
    if not np.all(np.isfinite(q)) or np.any(np.abs(q) > 100.0):
        raise GoalError("trajectory positions must be finite (and |q| <= 100)")
    if t[0] < 0 or np.any(np.diff(t) <= 0):
        raise GoalError("time_from_start must be non-negative and strictly increasing")
    if t[-1] > max_duration:
        raise GoalError(f"trajectory lasts {t[-1]:.1f} s; at most {max_duration} s accepted")
    arm = q[:, [names.index(j) for j in arm_joints]]
    grip = None
    if gripper is not None and gripper.joint_name in names:
        raw = q[:, names.index(gripper.joint_name)]
        grip = np.array([gripper.command(v) for v in raw])
    return t, arm, grip
