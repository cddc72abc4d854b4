"""An articulated human hand for MuJoCo, in MediaPipe's 21-keypoint topology, for synthetic HOI demos.

* :func:`build_hand` (``"left"``/``"right"``, :class:`HandStyle`) -> ``mujoco.MjSpec``; :func:`attach_hand` puts
  it into a scene; :func:`restyle` recolours a compiled one.
* :class:`Hand` drives a compiled hand: wrist target (mocap + weld), finger targets (:class:`HandPose`,
  :data:`PRESETS`), :meth:`Hand.keypoints` (21×3, MediaPipe order), grasp-point placement, forearm aiming.
* :class:`HandDims` holds every size, joint limit and gain; :class:`HandNames` every element name.
* :mod:`sim.handsim.preview` is a standalone scene with robot-scene-like cameras; :mod:`sim.handsim.check_detection`
  measures how well MediaPipe detects the rendered hand.
"""
from sim.handsim.control import GRASPS, Hand, keypoints, natural_elbow, quat_from_axes
from sim.handsim.dims import FingerDims, HandDims, ThumbDims
from sim.handsim.hand import attach_hand, build_hand, restyle
from sim.handsim.names import JOINTS, HandNames
from sim.handsim.pose import PRESETS, HandPose, preset
from sim.handsim.style import SKIN_TONES, SLEEVE_COLOURS, HandStyle

__all__ = [
    "GRASPS",
    "JOINTS",
    "PRESETS",
    "SKIN_TONES",
    "SLEEVE_COLOURS",
    "FingerDims",
    "Hand",
    "HandDims",
    "HandNames",
    "HandPose",
    "HandStyle",
    "ThumbDims",
    "attach_hand",
    "build_hand",
    "keypoints",
    "natural_elbow",
    "preset",
    "quat_from_axes",
    "restyle",
]
