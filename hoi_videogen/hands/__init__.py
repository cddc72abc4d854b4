"""Hand perception: MediaPipe hand tracking, offline.

* :class:`HandTracker` / :class:`HandTrackerConfig` — RGB frames -> :class:`hoi2robot.HandTrack` (IMAGE/VIDEO mode).
* :func:`build_hand_landmarker_bundle` / ``hoi-build-hand-model`` — the set-up step that makes the
  ``hand_landmarker.task`` model bundle at :func:`default_model_path` from the ``mediapipe==0.10.21`` wheel.
"""
from hoi_videogen.hands.model_bundle import (
    BundleError,
    build_hand_landmarker_bundle,
    default_model_path,
    verify_bundle,
)
from hoi_videogen.hands.tracker import HandModelNotFoundError, HandTracker, HandTrackerConfig

__all__ = [
    "BundleError",
    "HandModelNotFoundError",
    "HandTracker",
    "HandTrackerConfig",
    "build_hand_landmarker_bundle",
    "default_model_path",
    "verify_bundle",
]
