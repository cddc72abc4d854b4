"""hoi2robot: camera frame + task instruction -> generated hand-object video -> robot behaviour.

Core package: the data contracts every stage shares (:mod:`hoi2robot.contracts`), media I/O
(:mod:`hoi2robot.media`), config composition (:mod:`hoi2robot.config`) and the top-level ``hoi-demo``.
Stages live in the sibling packages ``hoi_videogen``, ``policy`` and ``sim``.
"""
from hoi2robot.contracts import (
    HAND_JOINTS,
    HANDEDNESS,
    CameraModel,
    ContractError,
    EETrajectory,
    GeneratedVideo,
    HandTrack,
    HOIClip,
)

__version__ = "0.1.0"
__all__ = [
    "HAND_JOINTS",
    "HANDEDNESS",
    "CameraModel",
    "ContractError",
    "EETrajectory",
    "GeneratedVideo",
    "HandTrack",
    "HOIClip",
]
