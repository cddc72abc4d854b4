"""``RetargetConfig``: the one validated settings object of :class:`~policy.retarget.Retargeter`.

Built from a plain mapping (a Hydra/OmegaConf node or ``configs/retarget/*.yaml``) with :meth:`RetargetConfig.from_dict`;
unknown keys and out-of-range values raise ``ValueError`` naming the key and what was expected.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "LiftConfig",
    "GraspConfig",
    "GripperConfig",
    "OrientationConfig",
    "FilterConfig",
    "TimingConfig",
    "ApproachConfig",
    "WorkspaceConfig",
    "ObjectAwareConfig",
    "RetargetConfig",
    "load_config",
]

LIFT_MODES = ("auto", "depth", "plane", "metric")
GRASP_TYPES = ("auto", "pinch", "power")
HAND_CHOICES = ("auto", "left", "right")
ORIENTATION_MODES = ("topdown", "palm6d")
SMOOTHERS = ("savgol", "none")
GRASP_YAWS = ("hand", "least_turn")  # objects.grasp_yaw


def _err(section: str, key: str, msg: str) -> None:
    raise ValueError(f"RetargetConfig.{section}.{key}: {msg}")


def _num(section: str, key: str, value: Any, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _err(section, key, f"expected a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        _err(section, key, f"expected a value in [{lo}, {hi}], got {value!r}")
    return float(value)


def _choice(section: str, key: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        _err(section, key, f"expected one of {list(options)}, got {value!r}")
    return str(value)


def _vec(section: str, key: str, value: Any, n: int) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)
    except TypeError:
        out = ()
    if len(out) != n or not all(math.isfinite(v) for v in out):
        _err(section, key, f"expected {n} finite numbers, got {value!r}")
    return out


@dataclass(frozen=True)
class LiftConfig:
    """2D → 3D lifting.

    Every detected frame is solved by PnP (OpenCV ``solvePnP``) of MediaPipe's metric hand-centred world landmarks
    against the 2D keypoints: that fixes the hand's rotation and its position up to MediaPipe's hand-size estimate.
    The remaining scale (the depth) comes from, by ``mode``:

    * ``depth``: a depth image. T×H×W (one per frame): the median of depth samples under the keypoints, per frame.
      H×W (the context frame, no hand in it): the grasp point's depth at the grasp (contact) frames fixes one scale
      for the clip. ``grasp_anchor: axis``: where the grasp point's ray comes nearest the vertical axis through the
      middle of the object's top face (the up-facing context points at the height of the object point nearest the
      ray, within ``axis_radius`` of it; the object must lie within ``gripper.contact_radius`` of the ray) — a hand
      closing on an object brings its pads to opposite sides of it, so their midpoint is on its axis (pooled
      tracked grasp-point error 1.25 cm, ``python -m policy.retarget.bench --seeds 10``; with ``surface`` the grasp
      point lay 2-2.5 cm too far along the ray on Lift and PickPlaceCan and 1 cm too near on Stack).
      ``surface`` (and ``axis`` with no object near the ray): the nearest surface around the pixel plus
      ``object_depth_offset``.
    * ``plane``: no depth (real RGB): at the contact frames the grasp point lies ``plane_height`` above the table plane
      ``table_z`` (robot base frame); the ray through its pixel meets that plane and fixes one scale for the clip.
    * ``metric``: trust MediaPipe's metric world landmarks (scale 1; exact for ground-truth tracks).
    * ``auto``: ``depth`` when a depth image is given, else ``plane``.

    With one scale per clip (context depth or plane), the hand's apparent size still jitters by ±20% from frame to
    frame (MediaPipe's hand-size estimate changes with the finger pose), so with ``geometric_prior`` only the
    contacts use it: between two contacts the grasp point is taken to move in the vertical plane through both (the
    carry), before the first / after the last along the vertical line through it (approach, lift, retreat); each
    frame's point is where its pixel ray meets that plane or line. Pushes: the frames within 4 cm of the lowest lie
    on the push plane, the others above the nearest of them.

    Attributes:
        max_reprojection_px: frames whose PnP reprojection error (mean, pixels) exceeds this are outliers.
        release_support: with a context depth, a release point's depth is where the pixel's ray, lowered by the
            grasp point's height above the table at the pick, meets the support under it (the object is put down on
            what is under it: the table, another object); the depth right at the pixel is often the table behind a
            support object (measured on engine Stack demos: releases 4-12 cm too far). False: the nearest surface
            around the pixel, like a grasp.
        support_radius: the support under a release point is the highest context surface within this (m,
            horizontally) of it: a release near a box's edge is on the box.
        support_min_width: only surfaces at least this wide (m) are a support: a grey opening of the context height
            map with a disc of this diameter removes narrower ones (a container's thin rim or divider, which the
            release ray meets first, is no support; its floor is; a box top is). About the smallest footprint of a
            held object; 0 keeps every surface. (robosuite: PickPlaceCan's bin walls are 2 cm wide,
            Stack's cubes 4 and 5 cm.)
        release_clearance: the release point is this much (m) higher than where the held object would touch the
            support: the object is let go just above it rather than pressed into it when the support height is a
            little off (measured, tracked-hand, 20 seeds: PickPlaceCan 45% with 0, 65% with 0.03 — with releases at
            the touching height the executor read the set-down can as lost from the gripper and re-grasped it,
            seeds 0 and 3; 1-2 cm still did on seed 0; Stack 95% with 0, 100% with 0.03).
        depth_window: half size (pixels) of the window sampled around a keypoint in a per-frame depth image.
        anchor_window: half size of the window around the grasp point's pixel in the context depth; its 10th
            percentile (the nearest surface: the object rather than the table behind it) is the anchor depth.
        min_depth, max_depth: valid depth range (metres).
    """

    mode: str = "auto"
    table_z: float = -0.103
    plane_height: float = 0.03
    push_plane_height: float = 0.022
    object_depth_offset: float = 0.015
    max_reprojection_px: float = 12.0
    geometric_prior: bool = True
    push_contact: str = "interval"
    grasp_anchor: str = "axis"
    axis_radius: float = 0.05
    release_support: bool = True
    support_radius: float = 0.02
    support_min_width: float = 0.04
    release_clearance: float = 0.03
    depth_window: int = 2
    anchor_window: int = 4
    min_depth: float = 0.05
    max_depth: float = 5.0

    def __post_init__(self) -> None:
        s = "lift"
        _choice(s, "mode", self.mode, LIFT_MODES)
        _choice(s, "push_contact", self.push_contact, ("interval", "lowest"))
        _choice(s, "grasp_anchor", self.grasp_anchor, ("axis", "surface"))
        _num(s, "axis_radius", self.axis_radius, 0.005, 0.5)
        for k in ("table_z", "plane_height", "push_plane_height", "object_depth_offset"):
            _num(s, k, getattr(self, k), -2.0, 2.0)
        _num(s, "max_reprojection_px", self.max_reprojection_px, 0.1)
        if not isinstance(self.release_support, bool):
            _err(s, "release_support", f"expected true or false, got {self.release_support!r}")
        _num(s, "support_radius", self.support_radius, 0.001, 0.2)
        _num(s, "support_min_width", self.support_min_width, 0.0, 0.5)
        _num(s, "release_clearance", self.release_clearance, 0.0, 0.1)
        for k in ("depth_window", "anchor_window"):
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 0:
                _err(s, k, f"expected a non-negative integer, got {getattr(self, k)!r}")
        _num(s, "min_depth", self.min_depth, 0.0)
        if _num(s, "max_depth", self.max_depth, 0.0) <= self.min_depth:
            _err(s, "max_depth", "must be larger than min_depth")


@dataclass(frozen=True)
class GraspConfig:
    """Which hand, where it grasps, and the hand → gripper (TCP) offset.

    ``hand``: ``auto`` picks the slot with the most valid frames, ties broken by the larger grasp-point path
    length (the hand that moves most); ``left``/``right`` force a slot.
    ``type``: ``pinch`` = thumb/index midpoint, of the tips or (``pinch_point: pads``, default) of the finger pads
    (each finger's tip and last joint averaged: measured on engine demos, the pads' midpoint is 1.0 cm from the
    grasped cube's centre horizontally, the tips' 1.5 cm); ``power`` = the palm centre (wrist and four MCPs) moved
    ``power_depth`` metres along the palm normal towards the curled fingers (the wrapped object's centre); ``auto`` =
    ``power`` when the thumb–index aperture range exceeds ``power_aperture_range`` (the hand opens wide around a big
    object) and its median while holding exceeds ``power_hold_aperture`` (thumb and index stay apart around an
    object held in the palm; a pinch brings their pads onto it: measured on engine Stack demos, a pinched 4 cm cube
    holds them 1.1–3.4 cm apart after opening 7 cm, which the range alone called a power grasp), else ``pinch``.
    The default is ``pinch``: ``auto`` takes pinches of a 6.6 cm can, whose pads stay apart on it, for power grasps,
    whose grasp point lies deeper in the palm, below where the pads hold the can (tracked PickPlaceCan, 50 seeds:
    86% with ``auto``, 90% with ``pinch``; bench/results/tracked_ppc_auto.json). A track without a grasp (no aperture change:
    pushing) uses the middle fingertip, the centre of the contact.
    ``tcp_offset``: metres added to the grasp point to get the robot's TCP (the Panda grip site, between the finger
    pads), expressed in the **robot base frame** (x forward, y left, z up; gravity-aligned, so it does not rotate with
    the hand). The default lowers the TCP 2 cm: a human pinch closes with its keypoints (joint centres) ~2.6 cm above
    the object's centre (measured on engine demos), higher than the robot's finger pads need to be. ``push_tcp_offset`` is used for tracks without a grasp.
    """

    hand: str = "auto"
    type: str = "pinch"
    pinch_point: str = "pads"
    power_aperture_range: float = 0.05
    power_hold_aperture: float = 0.045
    power_depth: float = 0.045
    tcp_offset: tuple[float, float, float] = (0.0, 0.0, -0.02)
    push_tcp_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        _choice("grasp", "hand", self.hand, HAND_CHOICES)
        _choice("grasp", "type", self.type, GRASP_TYPES)
        _choice("grasp", "pinch_point", self.pinch_point, ("pads", "tips"))
        _num("grasp", "power_aperture_range", self.power_aperture_range, 0.0)
        _num("grasp", "power_hold_aperture", self.power_hold_aperture, 0.0)
        _num("grasp", "power_depth", self.power_depth, 0.0, 0.3)
        object.__setattr__(self, "tcp_offset", _vec("grasp", "tcp_offset", self.tcp_offset, 3))
        object.__setattr__(self, "push_tcp_offset", _vec("grasp", "push_tcp_offset", self.push_tcp_offset, 3))


@dataclass(frozen=True)
class GripperConfig:
    """Gripper command (1 closed, 0 open) from the thumb-tip/index-tip aperture, with hysteresis.

    The aperture is normalized per clip between its ``low_percentile`` and ``high_percentile``; the gripper closes
    when the normalized aperture falls below ``close_below`` and opens when it rises above ``open_above``; the aperture is
    median-filtered over ``median_frames`` first. Closed stretches shorter than ``min_closed_s`` are dropped
    (hand-shape transitions, not grasps), open stretches between closures shorter than ``min_open_s`` are closed
    (a flicker, not a release), a closure not preceded by ``min_open_frames`` frames with the hand open (above
    ``open_above``; since the clip start or the previous closure) is not a grasp (a hand reaches with open fingers;
    one entering the view closed, e.g. pushing, grasps nothing), and a closure during which the hand never rises
    ``min_lift`` metres is not a grasp.
    Switches are then moved to the contact (``snap_s``: search window, seconds): a closure to the first frame in the
    ``snap_s`` before it where the grasp point is lowest in the image, a release to the lowest frame around it —
    the aperture lags the contact (0 disables). With a context depth image (lift mode ``depth``), a closure is a
    grasp only if the hand closes on something: at its first frame the ray through the grasp point's pixel passes
    within ``contact_radius`` metres of a context-frame surface at least ``contact_height`` metres above the table
    plane ``lift.table_z`` (an object); else it is aperture noise (e.g. fingers pushing, whose thumb-index distance
    MediaPipe reads as changing by up to 7 cm) and re-opened (0 disables). With an aperture range
    below ``min_range`` (metres) the track has no grasp, and the command is ``no_grasp_command`` throughout
    (1 = keep closed: the closed gripper is the robot's pusher).
    ``timing``: ``auto`` — when the aperture finds a grasp and the grasp point's image row shows a clear pick and
    place (two bottoms, each ``motion_prominence`` × image height below the rise between them), the gripper closes at
    the start of the first bottom and opens after the second (the hand's motion times a power grasp that the aperture
    cannot: wrapping a can changes MediaPipe's thumb-index distance by 2 cm, within its noise; a bottom whose plateau
    starts within ``entry_s`` seconds of the hand's first detection is its entry into the view, not a pick, unless the
    hand rests there ``rest_s`` seconds: it came into view at the object); else, when it shows a
    single pick lifted and held to the end (its last bottom, ``motion_prominence`` × image height below the level the
    hand ends at, which it reaches within ``lift_rise_s`` seconds of leaving the bottom and holds there, within
    ``lift_hold`` × image height; the bottom lasts at most ``lift_max_bottom_s`` seconds), that timing is used when
    the first timing's closures are rejected (too short to see the lift, started too early, merged with the hand's
    entry): the gripper closes at the start of that bottom and stays closed (a push's hand rests at the end of its
    slide before it leaves, so its rise comes seconds later); ``aperture``: the aperture alone.
    """

    close_below: float = 0.4
    open_above: float = 0.6
    low_percentile: float = 5.0
    high_percentile: float = 95.0
    min_range: float = 0.015
    min_closed_s: float = 0.4
    min_open_s: float = 0.4
    median_frames: int = 3
    min_open_frames: int = 2
    min_lift: float = 0.03
    snap_s: float = 0.8
    contact_height: float = 0.015
    contact_radius: float = 0.04
    no_grasp_command: float = 1.0
    timing: str = "auto"
    motion_prominence: float = 0.06
    lift_rise_s: float = 1.0
    lift_hold: float = 0.02
    lift_max_bottom_s: float = 1.2
    entry_s: float = 0.4
    rest_s: float = 0.5

    def __post_init__(self) -> None:
        s = "gripper"
        if self.timing not in ("auto", "aperture"):
            _err(s, "timing", f"expected 'auto' or 'aperture', got {self.timing!r}")
        _num(s, "motion_prominence", self.motion_prominence, 0.0, 1.0)
        _num(s, "lift_rise_s", self.lift_rise_s, 0.0, 100.0)
        _num(s, "lift_hold", self.lift_hold, 0.0, 1.0)
        _num(s, "lift_max_bottom_s", self.lift_max_bottom_s, 0.0, 100.0)
        _num(s, "entry_s", self.entry_s, 0.0, 100.0)
        _num(s, "rest_s", self.rest_s, 0.0, 100.0)
        _num(s, "close_below", self.close_below, 0.0, 1.0)
        if _num(s, "open_above", self.open_above, 0.0, 1.0) < self.close_below:
            _err(s, "open_above", f"must be >= close_below ({self.close_below}) for hysteresis")
        _num(s, "low_percentile", self.low_percentile, 0.0, 100.0)
        if _num(s, "high_percentile", self.high_percentile, 0.0, 100.0) <= self.low_percentile:
            _err(s, "high_percentile", "must be larger than low_percentile")
        _num(s, "min_range", self.min_range, 0.0)
        _num(s, "min_closed_s", self.min_closed_s, 0.0)
        _num(s, "min_open_s", self.min_open_s, 0.0)
        _num(s, "min_lift", self.min_lift, 0.0)
        _num(s, "snap_s", self.snap_s, 0.0)
        _num(s, "contact_height", self.contact_height, 0.0, 0.5)
        _num(s, "contact_radius", self.contact_radius, 0.0, 0.5)
        if not isinstance(self.min_open_frames, int) or isinstance(self.min_open_frames, bool) or self.min_open_frames < 0:
            _err(s, "min_open_frames", f"expected a non-negative integer, got {self.min_open_frames!r}")
        if not isinstance(self.median_frames, int) or self.median_frames < 1:
            _err(s, "median_frames", f"expected a positive integer, got {self.median_frames!r}")
        _num(s, "no_grasp_command", self.no_grasp_command, 0.0, 1.0)


@dataclass(frozen=True)
class OrientationConfig:
    """Gripper orientation.

    ``topdown``: the gripper points down, turned about the vertical by the yaw of the hand's closing axis (thumb tip →
    index tip) at the grasp, wrapped to [-90°, 90°) (a parallel gripper is symmetric under 180°); ``fixed_yaw``
    (radians) without a grasp. ``palm6d``: the full palm frame (wrist → middle MCP, palm normal) per frame, mapped
    to the gripper by the fixed rotation that makes a flat palm-down hand give the top-down gripper.
    """

    mode: str = "topdown"
    fixed_yaw: float = 0.0

    def __post_init__(self) -> None:
        _choice("orientation", "mode", self.mode, ORIENTATION_MODES)
        _num("orientation", "fixed_yaw", self.fixed_yaw, -math.pi, math.pi)


@dataclass(frozen=True)
class FilterConfig:
    """Outlier rejection, gap filling and smoothing of the grasp-point track.

    Frames whose grasp point is farther than ``outlier_m`` from the median of its ``outlier_window`` neighbours are
    dropped; gaps (missed or dropped frames) are filled by linear interpolation (ends: nearest valid frame), gaps
    longer than ``max_gap_s`` are filled too but reported. ``smoother``: ``savgol`` (scipy's Savitzky–Golay,
    ``window`` frames, polynomial ``order``; shrunk to fit short clips) or ``none``.
    """

    outlier_m: float = 0.06
    outlier_window: int = 5
    max_gap_s: float = 1.0
    smoother: str = "savgol"
    window: int = 5
    order: int = 2

    def __post_init__(self) -> None:
        _num("filter", "outlier_m", self.outlier_m, 0.0)
        _num("filter", "max_gap_s", self.max_gap_s, 0.0)
        _choice("filter", "smoother", self.smoother, SMOOTHERS)
        for k in ("outlier_window", "window", "order"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if k == "order" else 1):
                _err("filter", k, f"expected a positive integer, got {v!r}")


@dataclass(frozen=True)
class TimingConfig:
    """Resampling and time scaling.

    The filtered frames are resampled (shape-preserving PCHIP) at ``dt`` seconds; a ``close_dwell_s`` /
    ``open_dwell_s`` hold is inserted at every gripper close / open (the arm waits while the fingers move: the grasp is
    timed to contact); then segments are stretched until speed <= ``max_speed`` (m/s), angular speed <=
    ``max_angular_speed`` (rad/s) and acceleration <= ``max_accel`` (m/s²). ``speed_scale`` < 1 slows the whole
    demo down.
    """

    dt: float = 0.05
    close_dwell_s: float = 0.5
    open_dwell_s: float = 0.4
    max_speed: float = 0.25
    max_angular_speed: float = 1.5
    max_accel: float = 1.0
    speed_scale: float = 1.0

    def __post_init__(self) -> None:
        _num("timing", "dt", self.dt, 1e-3, 1.0)
        for k in ("close_dwell_s", "open_dwell_s"):
            _num("timing", k, getattr(self, k), 0.0, 10.0)
        for k in ("max_speed", "max_angular_speed", "max_accel", "speed_scale"):
            if _num("timing", k, getattr(self, k), 0.0) == 0.0:
                _err("timing", k, "must be positive")


@dataclass(frozen=True)
class ApproachConfig:
    """Vertical moves at contacts: the TCP descends the last ``height`` metres to every grasp and release point
    straight down during the ``time`` seconds before it, and rises straight up after a release (0 disables).
    The trajectory keeps only ``lead_s`` seconds before the first grasp and ``tail_s`` after the last release: the
    hand's entry into and exit from the view are far from everything and their depth is the least certain (the robot
    goes straight from where it is to the first kept pose).
    With a context depth image, a carry (the gripper closed) is raised where needed so that the held object clears
    what stands on the table in the context frame by ``carry_clearance`` metres (0 disables): the object hangs as far below
    the grasp point as the grasp point was above the table at the pick, and its footprint is a disc of
    ``carry_radius``; the picked object's own spot is no obstacle. A hand carrying fast is often lost for a second
    and the gap is filled by a straight line, which can run through a container's wall."""

    height: float = 0.08
    time: float = 0.6
    lead_s: float = 0.6
    tail_s: float = 1.0
    carry_clearance: float = 0.03
    carry_radius: float = 0.04

    def __post_init__(self) -> None:
        _num("approach", "carry_clearance", self.carry_clearance, 0.0, 0.5)
        _num("approach", "carry_radius", self.carry_radius, 0.0, 0.5)
        _num("approach", "height", self.height, 0.0, 0.5)
        _num("approach", "time", self.time, 0.0, 5.0)
        _num("approach", "lead_s", self.lead_s, 0.0)
        _num("approach", "tail_s", self.tail_s, 0.0)


@dataclass(frozen=True)
class WorkspaceConfig:
    """Where the TCP may go (robot base frame, metres): an axis-aligned box, and at most ``max_reach`` from the base's
    vertical axis (the Panda's grip site reaches ~0.85 m at table height; beyond that IK fails). Positions outside are
    clipped in; clipping more than ``warn_m`` warns."""

    low: tuple[float, float, float] = (0.25, -0.45, -0.095)
    high: tuple[float, float, float] = (0.85, 0.60, 0.35)
    max_reach: float = 0.82
    warn_m: float = 0.01

    def __post_init__(self) -> None:
        lo, hi = _vec("workspace", "low", self.low, 3), _vec("workspace", "high", self.high, 3)
        if any(a >= b for a, b in zip(lo, hi)):
            _err("workspace", "high", f"every component must exceed low {lo}, got {hi}")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)
        _num("workspace", "max_reach", self.max_reach, 0.1)
        _num("workspace", "warn_m", self.warn_m, 0.0)


@dataclass(frozen=True)
class ObjectAwareConfig:
    """``objects:`` section: object-aware execution (:mod:`policy.retarget.objects`, used by
    :func:`~policy.retarget.execute.execute_ee_trajectory`). Lengths in metres.

    Attributes:
        enabled: execute object-aware (the ``hoi-bench`` hand rows); false: follow the trajectory as it is.
        snap_radius: a grasp snaps to the nearest perceived object within this (horizontally) of the planned close
            point; none within it: the plan is followed as it is.
        pregrasp_inner, pregrasp_radius, pregrasp_height: the approach funnel: before the close, the reference
            stays at least ``pregrasp_height`` above the grasp point while the gripper is ``pregrasp_radius`` or
            more from it horizontally, and may reach it only within ``pregrasp_inner`` (linear in between): the
            hand's path may come in low from the side, and a gripper doing that knocks the object over. Outside
            ``pregrasp_inner`` the pads also stay above the object's top (+ ``finger_clearance``): the linear funnel
            alone let a gripper 1.7 cm off a can's axis sink below its rim and tilt it 40° before closing
            (oracle PickPlaceCan seed 8, which then lost the can on the bin wall).
        align_to_faces: turn the gripper's closing axis onto the normal of the object's side faces nearest to the
            hand's closing axis (a parallel gripper holds a box by two opposite faces; a hand's axis is only
            roughly across them).
        grasp_yaw: which of a box's equivalent grasps ``align_to_faces`` takes. ``hand``: the face pair nearest to the
            hand's closing axis, the gripper turned the shorter way from the hand's yaw (what the video shows).
            ``least_turn`` (default): of the face pairs the gripper can close across (at most ``max_grasp_width``
            wide) and its two half-turn-symmetric yaws, the one nearest the gripper's home yaw: the expert's choice.
            A hand's axis is often near 45° to a cube's faces or near ±90° from home, so under ``hand`` the gripper
            turned by −98°, −13° or +104° on similar Lift scenes (oracle-hand seeds 8, 48, 28), and a BC policy
            trained on such demos averaged the modes (Lift: 54% mean success, 93% with ``least_turn`` demos).
        turn_fingers: turn the gripper a quarter turn when its open fingers would land on a neighbouring object (off by
            default: measured on Stack seeds 18, 19 the turn drove the Panda's wrist into its joint-6 limit, while
            the centred grasp alone cleared the neighbour).
        grasp_z_band: the close point's height is kept within this fraction of the object's half height of its
            centre.
        max_grasp_width: the gripper yaw may only turn to a closing axis across which the object is at most this wide.
        finger_clearance: open fingers closer than this to a neighbouring object's footprint collide with it.
        hold_tol: the held object may drift this far from where it sat in the gripper before it counts as lost (the
            plan is then followed as it is).
        regrasp_steps, max_regrasps, regrasp_lead_s: an object lost from the gripper for ``regrasp_steps`` control
            steps during a carry is grasped again (at most ``max_regrasps`` times): the trajectory clock goes back to
            ``regrasp_lead_s`` before the close, and the approach aims at where the object lies now.
        support_radius: a release point within this (horizontally) of another object's footprint places relative to it.
        support_snap_radius, support_inset: a release point above another object (above half its top half) and within
            ``support_snap_radius`` of its footprint but not on it (an uncertain depth) is moved onto its top face,
            at most ``support_inset`` of the face's half size from the middle (0 disables).
        push_contact_dz: push contact phase: the path within this of its lowest point.
        push_min_travel: an object goal closer than this to the object is no push (the trajectory is followed as it
            is); the contact path must be this long to tell which object lies in front of the fingers.
        push_reach: without an object in front of the contact path, the object nearest to where the fingers
            stopped within this (horizontally) is pushed (0: none; about the longest push expected).
        push_finger_radius: the pushing fingertip keypoints lie this far behind the skin touching the object.
        push_standoff: the robot's fingers start this far behind the object's face.
        push_lead: the pushing target runs this far ahead of the object's centre.
        push_speed: fraction of the OSC step while pushing.
        push_slowdown: within this of the goal the push slows down (to 30% at the goal).
        push_line_tol: lateral drift from the push line that makes the pusher back off and re-approach.
        push_done_tol: the push ends with the object's centre this close to the goal.
        push_height: grip site height relative to the object's centre while pushing.
        approach_height: height above the pre-push point the pusher comes from.
        retreat_height: rise after the push.
    """

    enabled: bool = True
    snap_radius: float = 0.06
    pregrasp_inner: float = 0.01
    pregrasp_radius: float = 0.04
    pregrasp_height: float = 0.08
    align_to_faces: bool = True
    grasp_yaw: str = "least_turn"
    turn_fingers: bool = False
    grasp_z_band: float = 0.25
    max_grasp_width: float = 0.075
    finger_clearance: float = 0.004
    hold_tol: float = 0.03
    regrasp_steps: int = 5
    max_regrasps: int = 2
    regrasp_lead_s: float = 1.0
    support_radius: float = 0.02
    support_snap_radius: float = 0.06
    support_inset: float = 0.5
    push_contact_dz: float = 0.03
    push_min_travel: float = 0.02
    push_reach: float = 0.2
    push_finger_radius: float = 0.006
    push_standoff: float = 0.035
    push_lead: float = 0.03
    push_speed: float = 0.3
    push_slowdown: float = 0.05
    push_line_tol: float = 0.015
    push_done_tol: float = 0.01
    push_height: float = 0.0
    approach_height: float = 0.08
    retreat_height: float = 0.10

    def __post_init__(self) -> None:
        s = "objects"
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "grasp_yaw":
                if v not in GRASP_YAWS:
                    _err(s, f.name, f"expected one of {list(GRASP_YAWS)}, got {v!r}")
            elif f.name in ("enabled", "turn_fingers", "align_to_faces"):
                if not isinstance(v, bool):
                    _err(s, f.name, f"expected true or false, got {v!r}")
            elif f.name in ("regrasp_steps", "max_regrasps"):
                if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 100:
                    _err(s, f.name, f"expected an integer in [0, 100], got {v!r}")
            elif f.name == "regrasp_lead_s":
                object.__setattr__(self, f.name, _num(s, f.name, v, 0.0, 100.0))
            else:
                object.__setattr__(self, f.name, _num(s, f.name, v, -0.2 if f.name == "push_height" else 0.0, 1.0))


@dataclass(frozen=True)
class RetargetConfig:
    """All settings of the retargeter (see each section's class). ``frame_id``: the robot base frame's name."""

    lift: LiftConfig = field(default_factory=LiftConfig)
    grasp: GraspConfig = field(default_factory=GraspConfig)
    gripper: GripperConfig = field(default_factory=GripperConfig)
    orientation: OrientationConfig = field(default_factory=OrientationConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    approach: ApproachConfig = field(default_factory=ApproachConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    objects: ObjectAwareConfig = field(default_factory=ObjectAwareConfig)
    frame_id: str = "robot0_base"

    def __post_init__(self) -> None:
        if not isinstance(self.frame_id, str) or not self.frame_id:
            raise ValueError(f"RetargetConfig.frame_id: expected a non-empty string, got {self.frame_id!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "RetargetConfig":
        """Build from a (possibly partial) nested mapping; missing keys keep their defaults."""
        if d is None:
            return cls()
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(d, DictConfig):
                d = OmegaConf.to_container(d, resolve=True)
        except ImportError:  # pragma: no cover
            pass
        if not isinstance(d, Mapping):
            raise ValueError(f"RetargetConfig: expected a mapping, got {type(d).__name__}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            value = d[f.name]
            sub = f.default_factory if f.default_factory is not MISSING else None  # type: ignore[misc]
            if sub is not None and is_dataclass(sub):
                if not isinstance(value, Mapping):
                    raise ValueError(f"RetargetConfig.{f.name}: expected a mapping, got {value!r}")
                names = {g.name for g in fields(sub)}
                unknown = sorted(set(value) - names)
                if unknown:
                    raise ValueError(f"RetargetConfig.{f.name}: unknown key(s) {unknown}; valid: {sorted(names)}")
                kwargs[f.name] = sub(**dict(value))
            else:
                kwargs[f.name] = value
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"RetargetConfig: unknown key(s) {unknown}; valid: {[f.name for f in fields(cls)]}")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **sections: Mapping[str, Any]) -> "RetargetConfig":
        """A copy with some sections' keys overridden, e.g. ``cfg.replace(lift={"mode": "metric"})``."""
        d = self.to_dict()
        for k, v in sections.items():
            if isinstance(v, Mapping) and isinstance(d.get(k), dict):
                d[k] = {**d[k], **v}
            else:
                d[k] = v
        return RetargetConfig.from_dict(d)


def load_config(name_or_path: str | Path = "default") -> RetargetConfig:
    """Read ``configs/retarget/<name>.yaml`` (or a YAML file path) into a :class:`RetargetConfig`."""
    import yaml

    path = Path(name_or_path)
    if not path.suffix:
        path = Path(__file__).resolve().parents[2] / "configs" / "retarget" / f"{name_or_path}.yaml"
        if not path.is_file():
            from importlib.resources import files

            path = Path(str(files("hoi2robot.configs") / "retarget" / f"{name_or_path}.yaml"))
    if not path.is_file():
        raise FileNotFoundError(f"no retarget config {name_or_path!r} (looked for {path})")
    return RetargetConfig.from_dict(yaml.safe_load(path.read_text()) or {})
