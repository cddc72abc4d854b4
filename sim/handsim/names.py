"""Names of everything in a hand model (joints, actuators, sites, geoms), derived from one prefix.

A hand built with prefix ``"right_"`` has the free-floating body ``right_hand`` (palm, wrist keypoint) welded to the
mocap body ``right_hand_target``, the 21 keypoint sites ``right_wrist`` …
``right_pinky_tip`` (MediaPipe order, :data:`hoi2robot.contracts.HAND_JOINTS`), joints and position actuators
``right_index_mcp`` etc. (:data:`JOINTS` order), and collision geoms ``right_palm`` and ``right_<digit>_distal``
(fingertips). Attaching the hand spec into another model with an extra prefix just prepends to every name.
"""
from __future__ import annotations

from dataclasses import dataclass

from hoi2robot.contracts import HAND_JOINTS

DIGITS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")
FINGERS: tuple[str, ...] = DIGITS[1:]
BONES: tuple[str, ...] = ("proximal", "middle", "distal")  # thumb: metacarpal, proximal, distal
THUMB_BONES: tuple[str, ...] = ("metacarpal", "proximal", "distal")

# Joints of each digit, proximal to distal; the first bone of each digit carries two.
THUMB_JOINTS: tuple[str, ...] = ("cmc_abd", "cmc", "mcp", "ip")
FINGER_JOINTS: tuple[str, ...] = ("abd", "mcp", "pip", "dip")
JOINTS: tuple[str, ...] = tuple(f"thumb_{j}" for j in THUMB_JOINTS) + tuple(
    f"{f}_{j}" for f in FINGERS for j in FINGER_JOINTS
)


def bones(digit: str) -> tuple[str, ...]:
    return THUMB_BONES if digit == "thumb" else BONES


def digit_joints(digit: str) -> tuple[str, ...]:
    return THUMB_JOINTS if digit == "thumb" else FINGER_JOINTS


def digit_keypoints(digit: str) -> tuple[str, ...]:
    """The 4 keypoints of a digit in MediaPipe order (base joint, two joints, tip)."""
    return tuple(k for k in HAND_JOINTS if k.startswith(digit + "_"))


@dataclass(frozen=True)
class HandNames:
    """All element names of one hand, given its ``prefix`` (e.g. ``"right_"``)."""

    prefix: str

    def __call__(self, name: str) -> str:
        return self.prefix + name

    @property
    def mocap_body(self) -> str:
        """The wrist target: set its pose each step; a weld pulls the hand onto it."""
        return self("hand_target")

    @property
    def hand_body(self) -> str:
        """The palm body (free joint ``hand_free``), parent of the fingers and the forearm."""
        return self("hand")

    @property
    def free_joint(self) -> str:
        return self("hand_free")

    @property
    def weld(self) -> str:
        return self("hand_weld")

    @property
    def keypoint_sites(self) -> tuple[str, ...]:
        return tuple(self(k) for k in HAND_JOINTS)

    @property
    def joints(self) -> tuple[str, ...]:
        return tuple(self(j) for j in JOINTS)

    @property
    def wrist_joints(self) -> tuple[str, ...]:
        """The forearm's joints (wrist flexion, deviation): they aim the forearm; the hand's pose is the target's."""
        return (self("wrist_flex"), self("wrist_dev"))

    actuators = joints  # one position actuator per finger joint, named like it (the wrist's likewise)

    @property
    def palm_geom(self) -> str:
        return self("palm")

    @property
    def palm_center_site(self) -> str:
        return self("palm_center")

    @property
    def fingertip_geoms(self) -> tuple[str, ...]:
        """Distal-phalanx capsules, thumb first: the contacts a pinch or a weld-on-contact policy watches."""
        return tuple(self(f"{d}_distal") for d in DIGITS)

    @property
    def digit_geoms(self) -> tuple[str, ...]:
        """Collision capsules of all phalanges (thumb metacarpal included)."""
        return tuple(self(f"{d}_{b}") for d in DIGITS for b in bones(d))

    @property
    def collision_geoms(self) -> tuple[str, ...]:
        return (self.palm_geom,) + self.digit_geoms
