"""Every dimension, joint limit and gain of the hand model, in one place.

Coordinates are the **hand frame of the right hand** (the left hand is its mirror image, see
:class:`sim.handsim.hand.Mirror`): origin at the wrist keypoint (centre of the wrist crease), ``+x`` distal (towards the
middle-finger knuckle), ``+y`` radial (towards the thumb), ``+z`` dorsal (out of the back of the hand). The palm
faces ``-z``. Lengths are metres for an adult hand at ``HandStyle.scale == 1`` (hand length, wrist crease to
middle fingertip, ~18.8 cm; wrist to middle knuckle 9.5 cm). Angles are degrees in these tables.

Finger joints rotate about their segment's local axes: flexion about ``+y`` (positive curls towards the palm),
abduction about ``+z`` (positive deviates towards the thumb side). The thumb's frame is given by its long axis
and its nail normal (MCP/IP flexion curls it the other way); its CMC axes are fixed in the hand frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class FingerDims:
    """One long finger: knuckle (MCP) placement, three phalanges (capsules), joint ranges in degrees.

    ``lengths`` are joint-centre to joint-centre (MCP→PIP, PIP→DIP) and DIP→fingertip end.
    ``splay`` is the finger's rest direction in the palm plane (degrees about +z, + = radial).
    """

    name: str
    mcp: tuple[float, float, float]
    splay: float
    lengths: tuple[float, float, float]
    radii: tuple[float, float, float]
    abd_range: tuple[float, float] = (-20.0, 20.0)
    mcp_range: tuple[float, float] = (-25.0, 95.0)
    pip_range: tuple[float, float] = (-5.0, 110.0)
    dip_range: tuple[float, float] = (-10.0, 85.0)


@dataclass(frozen=True)
class ThumbDims:
    """The thumb: CMC placement, rest frame, three bones, CMC joint axes, joint ranges in degrees.

    ``axis`` is the metacarpal's rest direction and ``nail`` its nail-side normal (both in the hand frame): MCP and IP
    flexion curl the thumb towards ``-nail``. ``lengths``: CMC→MCP (metacarpal), MCP→IP, IP→tip.
    CMC joints rotate about axes fixed in the hand frame (``cmc_axes``): ``cmc_abd`` lifts the thumb out of the palm
    plane (palmar abduction, +), ``cmc`` swings it across the palm towards the index (+) or away (-).
    """

    cmc: tuple[float, float, float] = (0.022, 0.019, -0.011)
    axis: tuple[float, float, float] = (0.75, 0.62, -0.10)
    nail: tuple[float, float, float] = (-0.30, 0.60, 0.75)
    lengths: tuple[float, float, float] = (0.040, 0.030, 0.026)
    radii: tuple[float, float, float] = (0.0125, 0.0105, 0.0095)
    cmc_axes: tuple[tuple[float, float, float], tuple[float, float, float]] = ((-0.8, 0.4, 0.0), (0.2, 0.0, -1.0))
    cmc_abd_range: tuple[float, float] = (-20.0, 70.0)
    cmc_range: tuple[float, float] = (-35.0, 50.0)
    mcp_range: tuple[float, float] = (-15.0, 70.0)
    ip_range: tuple[float, float] = (-20.0, 85.0)


def _fingers() -> tuple[FingerDims, ...]:
    return (
        FingerDims("index", (0.090, 0.024, -0.002), 5.0, (0.041, 0.024, 0.021), (0.0096, 0.0087, 0.0080)),
        FingerDims("middle", (0.095, 0.004, 0.000), 0.0, (0.045, 0.028, 0.022), (0.0099, 0.0090, 0.0082),
                   abd_range=(-15.0, 15.0)),
        FingerDims("ring", (0.090, -0.0145, -0.002), -5.0, (0.042, 0.027, 0.021), (0.0093, 0.0084, 0.0077)),
        FingerDims("pinky", (0.081, -0.031, -0.006), -11.0, (0.033, 0.020, 0.019), (0.0081, 0.0073, 0.0067),
                   abd_range=(-30.0, 15.0)),
    )  # fmt: skip


@dataclass(frozen=True)
class HandDims:
    """The whole hand: fingers, thumb, palm hull, forearm and sleeve, plus dynamics parameters.

    Palm: the convex hull of the spheres ``palm_spheres`` (centre xyz, radius) plus a sphere at every MCP of
    radius ``knuckle_scale`` × proximal radius: a rounded slab whose knuckle row follows the fingers.
    Forearm and sleeve: convex hulls of elliptical rings ``(x, half-width y, half-thickness z)``.
    """

    fingers: tuple[FingerDims, ...] = field(default_factory=_fingers)
    thumb: ThumbDims = field(default_factory=ThumbDims)
    palm_spheres: tuple[tuple[float, float, float, float], ...] = (
        (0.004, 0.014, -0.002, 0.018),   # wrist, radial
        (0.004, -0.012, -0.002, 0.018),  # wrist, ulnar
        (0.030, -0.025, -0.004, 0.016),  # hypothenar (heel of hand, pinky side)
        (0.055, -0.029, -0.004, 0.013),  # ulnar edge
        (0.036, 0.022, -0.005, 0.015),   # thenar root (index side of the thumb)
        (0.060, 0.004, -0.003, 0.014),   # palm centre (keeps the back of the hand domed)
    )  # fmt: skip
    knuckle_scale: float = 1.12
    # Fingertip keypoints sit this far (× tip radius) inside the fingertip end: MediaPipe's tip landmark on these
    # renders lands 4-10 mm inside the end (measured by sim.handsim.check_detection's sweep), not on it.
    tip_inset: float = 0.5
    wrist_joint: tuple[float, float, float] = (-0.008, 0.0, 0.0)  # wrist rotation centre (forearm body origin)
    wrist_flex_range: tuple[float, float] = (-70.0, 80.0)  # + = palmar flexion of the hand
    wrist_dev_range: tuple[float, float] = (-35.0, 25.0)  # + = radial deviation of the hand
    forearm_rings: tuple[tuple[float, float, float], ...] = (
        (0.010, 0.026, 0.017), (-0.03, 0.028, 0.019), (-0.12, 0.033, 0.025), (-0.20, 0.034, 0.027),
    )  # fmt: skip
    # Sleeve pushed up the forearm (as people do when working at a table): from the egocentric view a cuff at the
    # wrist hides the hand whenever the arm reaches away from the camera.
    sleeve_rings: tuple[tuple[float, float, float], ...] = (
        (-0.140, 0.040, 0.034), (-0.150, 0.043, 0.037), (-0.25, 0.046, 0.042), (-0.33, 0.048, 0.044),
    )  # fmt: skip
    palm_center: tuple[float, float, float] = (0.058, 0.0, -0.020)  # power-grasp point, on the palm surface
    # nail half-length, half-width, half-thickness, gap from its free edge to the fingertip, height of its centre;
    # all in units of the fingertip radius
    nail_size: tuple[float, float, float, float, float] = (0.75, 0.72, 0.26, 0.3, 0.82)
    # Dynamics (SI units). Fingers are light, so armature sets the joints' effective inertia.
    weld_solref: tuple[float, float] = (0.01, 1.0)  # how stiffly the hand follows its mocap target
    density: float = 1050.0
    kp: float = 0.8  # N·m/rad, position gain of every finger actuator
    kv: float = 0.02  # N·m·s/rad, actuator velocity feedback
    damping: float = 0.03
    armature: float = 0.002
    force_limit: float = 1.5  # N·m
    wrist_gain: float = 20.0  # wrist actuators: finger gains and force limit times this (they move the forearm)
    forearm_mass: float = 0.3  # kg (the forearm is visual only; it just needs inertia for its joints)
    friction: tuple[float, float, float] = (1.5, 0.02, 0.001)
    condim: int = 4

    def scaled(self, s: float) -> "HandDims":
        """Lengths × ``s``; angles and friction unchanged; gains, force limits and the forearm's mass × ``s``³."""
        if s == 1.0:
            return self
        S = lambda t: tuple(float(v) * s for v in t)  # noqa: E731
        fingers = tuple(replace(f, mcp=S(f.mcp), lengths=S(f.lengths), radii=S(f.radii)) for f in self.fingers)
        thumb = replace(self.thumb, cmc=S(self.thumb.cmc), lengths=S(self.thumb.lengths), radii=S(self.thumb.radii))
        return replace(
            self,
            fingers=fingers,
            thumb=thumb,
            palm_spheres=tuple(S(p) for p in self.palm_spheres),
            wrist_joint=S(self.wrist_joint),
            forearm_rings=tuple(S(r) for r in self.forearm_rings),
            sleeve_rings=tuple(S(r) for r in self.sleeve_rings),
            palm_center=S(self.palm_center),
            kp=self.kp * s**3,
            kv=self.kv * s**3,
            force_limit=self.force_limit * s**3,
            forearm_mass=self.forearm_mass * s**3,
        )

    def finger(self, name: str) -> FingerDims:
        return next(f for f in self.fingers if f.name == name)


def thumb_frame(t: ThumbDims) -> np.ndarray:
    """3×3 rotation (columns = thumb x, y, z in the hand frame): x along the bone, z the nail side."""
    x = np.asarray(t.axis, float)
    x /= np.linalg.norm(x)
    z = np.asarray(t.nail, float)
    z = z - z.dot(x) * x
    z /= np.linalg.norm(z)
    return np.column_stack([x, np.cross(z, x), z])


def splay_frame(deg: float) -> np.ndarray:
    """3×3 rotation about +z by ``deg``."""
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
