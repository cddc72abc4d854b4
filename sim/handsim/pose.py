"""Finger postures: :class:`HandPose` (one angle per joint) and named presets.

A pose is side-independent: the left hand's joint axes are mirrored, so the same pose gives mirror-image
postures. Angles follow :mod:`sim.handsim.dims`: flexion positive towards the palm, abduction positive towards
the thumb side; thumb CMC abduction swings the thumb away from the index finger, CMC flexion across the palm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.handsim.names import DIGITS, JOINTS


@dataclass(frozen=True)
class HandPose:
    """Joint angles in radians, in :data:`sim.handsim.names.JOINTS` order (20 values, = actuator targets)."""

    q: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.q) != len(JOINTS):
            raise ValueError(f"HandPose needs {len(JOINTS)} angles, got {len(self.q)}")
        object.__setattr__(self, "q", tuple(float(v) for v in self.q))

    @classmethod
    def from_degrees(cls, **digits: tuple[float, float, float, float]) -> "HandPose":
        """Per digit 4 angles in degrees: thumb (cmc_abd, cmc, mcp, ip), fingers (abd, mcp, pip, dip).

        Digits left out are straight (all zeros).
        """
        unknown = set(digits) - set(DIGITS)
        if unknown:
            raise ValueError(f"unknown digits {sorted(unknown)}; expected some of {DIGITS}")
        return cls(tuple(np.deg2rad(np.concatenate([digits.get(d, (0.0,) * 4) for d in DIGITS]))))

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.q)

    def degrees(self) -> dict[str, float]:
        return {j: float(np.rad2deg(v)) for j, v in zip(JOINTS, self.q)}

    def lerp(self, other: "HandPose", t: float) -> "HandPose":
        """Linear blend: ``t=0`` gives ``self``, ``t=1`` gives ``other``."""
        return HandPose(tuple((1.0 - t) * self.array + t * other.array))


def _fingers(index, middle, ring, pinky) -> dict:
    return {"index": index, "middle": middle, "ring": ring, "pinky": pinky}


_CURLED = _fingers((2, 85, 95, 60), (0, 85, 95, 60), (-2, 85, 95, 60), (-4, 85, 95, 60))

PRESETS: dict[str, HandPose] = {
    "open": HandPose.from_degrees(
        thumb=(-10, -20, 0, 5), **_fingers((8, 0, 3, 2), (0, 0, 3, 2), (-6, 0, 3, 2), (-14, 0, 3, 2))
    ),
    "relaxed": HandPose.from_degrees(
        thumb=(15, 5, 10, 15), **_fingers((4, 15, 25, 12), (0, 20, 30, 15), (-4, 25, 35, 18), (-8, 30, 40, 20))
    ),
    # Thumb and index facing each other ~7 cm apart; closed: tips ~1.2 cm apart. The middle finger follows the index
    # (it backs it up on the object's far face, as people do), ring and little finger follow the middle a little
    # more flexed. (Tucked into the palm they were hidden behind the index; MediaPipe, which places them beside the
    # middle finger, then missed them by ~18 px at 256²: mean error 5.5 -> 3.6 px on Lift.)
    "pinch_open": HandPose.from_degrees(
        thumb=(40, 0, 5, 5), **_fingers((0, 25, 30, 15), (-2, 25, 32, 16), (-4, 35, 45, 22), (-8, 40, 50, 25))
    ),
    "pinch": HandPose.from_degrees(
        thumb=(40, 16, 17, 17), **_fingers((0, 58, 41, 26), (-2, 55, 45, 28), (-4, 62, 58, 32), (-8, 68, 62, 35))
    ),
    # A wide C around a can-sized object, and the same hand wrapped around it.
    "power_open": HandPose.from_degrees(
        thumb=(55, -10, 5, 5), **_fingers((4, 20, 20, 10), (0, 20, 20, 10), (-4, 20, 20, 10), (-8, 20, 20, 10))
    ),
    "power": HandPose.from_degrees(
        thumb=(50, 25, 20, 20), **_fingers((2, 45, 55, 30), (0, 45, 55, 30), (-2, 45, 55, 30), (-4, 45, 55, 30))
    ),
    "point": HandPose.from_degrees(thumb=(20, 40, 30, 30), **{**_CURLED, "index": (0, 0, 5, 3)}),
    "fist": HandPose.from_degrees(thumb=(15, 45, 35, 40), **_CURLED),
}


# The pose the skin is meshed and bound in: fingers straight and spread apart, so neighbours do not fuse.
BIND_POSE = HandPose.from_degrees(
    thumb=(5, -15, 0, 0), **_fingers((10, 8, 10, 5), (0, 8, 10, 5), (-9, 8, 10, 5), (-18, 8, 10, 5))
)


def preset(name: str) -> HandPose:
    """A named pose from :data:`PRESETS`."""
    if name not in PRESETS:
        raise KeyError(f"unknown hand pose {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]
