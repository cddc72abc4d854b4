"""Hand keypoints from RGB frames with MediaPipe Tasks' ``HandLandmarker``, as a :class:`~hoi2robot.HandTrack`.

Runs fully offline on a ``hand_landmarker.task`` bundle (see :mod:`hoi_videogen.hands.model_bundle`).

Coordinates: MediaPipe's normalized landmark ``(x, y)`` times ``(W, H)`` gives OpenCV pixels ``(u, v)`` with
integer values at pixel centres, the contract's convention, so no half-pixel shift is applied. (Measured: upscaling
an image by ``s`` with OpenCV moved ``x·W`` by ``s·u + (s-1)/2``, the centre-at-integer prediction, not ``s·u``.)
Handedness is the subject's own hand for an unmirrored image (a mirrored selfie view flips it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hoi2robot.contracts import HANDEDNESS, NUM_JOINTS, HandTrack
from hoi_videogen.hands.model_bundle import default_model_path

__all__ = ["HandModelNotFoundError", "HandTracker", "HandTrackerConfig"]

SOURCE = "mediapipe"


class HandModelNotFoundError(FileNotFoundError):
    """The ``hand_landmarker.task`` file is missing; the message says how to build or point at one."""


@dataclass
class HandTrackerConfig:
    """Settings of :class:`HandTracker` (mirrored by ``configs/tracker/mediapipe.yaml``).

    Attributes:
        model_path: a ``hand_landmarker.task`` file; ``None`` = :func:`default_model_path` (built by
            ``hoi-build-hand-model``).
        num_hands: most hands reported per frame (1 or 2; the track has two slots). VIDEO mode skips the palm
            detector only while ``num_hands`` hands are tracked: with 2 and one hand in view it still runs every
            frame (measured ~32 vs ~19 ms/frame on 2 loaded cores).
        min_hand_detection_confidence: palm detector score threshold, in [0, 1].
        min_hand_presence_confidence: landmark model's hand presence threshold, in [0, 1]; in VIDEO mode, below it
            the palm detector runs again.
        min_tracking_confidence: VIDEO mode: IoU-style threshold for keeping the previous frame's hand box, in [0, 1].
    """

    model_path: str | None = None
    num_hands: int = 2
    min_hand_detection_confidence: float = 0.5
    min_hand_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.num_hands not in (1, 2) or isinstance(self.num_hands, bool):
            raise ValueError(f"HandTrackerConfig.num_hands must be 1 or 2, got {self.num_hands!r}")
        for name in ("min_hand_detection_confidence", "min_hand_presence_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"HandTrackerConfig.{name} must be in [0, 1], got {value!r}")

    def resolved_model_path(self) -> Path:
        """The model file this config points at (not checked for existence)."""
        return Path(self.model_path).expanduser() if self.model_path else default_model_path()


def _check_frames(frames: Any, ndim: int, what: str) -> np.ndarray:
    """Validate ``...×H×W×3`` uint8 RGB input (``ndim`` = 3 for an image, 4 for a video); return it C-contiguous."""
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"{what}: expected a numpy array, got {type(frames).__name__}")
    shape = "H×W×3" if ndim == 3 else "T×H×W×3"
    if frames.ndim != ndim or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(f"{what}: expected a non-empty {shape} RGB array, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{what}: expected dtype uint8 (RGB 0..255), got {frames.dtype}")
    return np.ascontiguousarray(frames)


def _empty_arrays(num_frames: int) -> dict[str, np.ndarray]:
    T = num_frames
    return {
        "keypoints_2d": np.zeros((T, 2, NUM_JOINTS, 2), np.float32),
        "keypoints_world": np.zeros((T, 2, NUM_JOINTS, 3), np.float32),
        "keypoints_depth": np.zeros((T, 2, NUM_JOINTS), np.float32),
        "score": np.zeros((T, 2), np.float32),
        "valid": np.zeros((T, 2), bool),
    }


def fill_frame(arrays: dict[str, np.ndarray], t: int, result: Any, width: int, height: int) -> None:
    """Write one ``HandLandmarkerResult`` into frame ``t`` of the track ``arrays`` (see :func:`_empty_arrays`).

    Slot = handedness (0 left, 1 right). Hands are placed in order of decreasing handedness score, so when two
    detections claim the same hand the more confident one gets that slot and the other the free slot.
    ``keypoints_2d`` = ``(x·W, y·H)`` pixels; ``keypoints_world`` = world landmarks (metres, hand-centred);
    ``keypoints_depth`` = landmark ``z`` (relative depth, normalized like ``x``); ``score`` = handedness score.
    """
    order = sorted(range(len(result.handedness)), key=lambda i: -result.handedness[i][0].score)
    for i in order:
        category = result.handedness[i][0]
        slot = HANDEDNESS.index(category.category_name.lower())
        if arrays["valid"][t, slot]:
            slot = 1 - slot
            if arrays["valid"][t, slot]:
                continue  # both slots taken: only the two most confident hands are kept
        image_lm = np.array([(p.x, p.y, p.z) for p in result.hand_landmarks[i]], np.float32)
        world_lm = np.array([(p.x, p.y, p.z) for p in result.hand_world_landmarks[i]], np.float32)
        arrays["keypoints_2d"][t, slot] = image_lm[:, :2] * np.array([width, height], np.float32)
        arrays["keypoints_depth"][t, slot] = image_lm[:, 2]
        arrays["keypoints_world"][t, slot] = world_lm
        arrays["score"][t, slot] = min(max(float(category.score), 0.0), 1.0)
        arrays["valid"][t, slot] = True


class HandTracker:
    """MediaPipe hand landmarker producing :class:`~hoi2robot.HandTrack` records.

    The model file is read once, when the tracker is built. The IMAGE-mode landmarker is created on the first
    :meth:`detect` and reused; each :meth:`track` call gets a fresh VIDEO-mode landmarker (~0.1 s), so a video's
    result never depends on what was tracked before. Use as a context manager or call :meth:`close`.

    Raises:
        HandModelNotFoundError: the model file does not exist (the message says how to build it).
    """

    def __init__(self, config: HandTrackerConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = HandTrackerConfig(**overrides)
        elif overrides:
            config = HandTrackerConfig(**{**vars(config), **overrides})
        self.config = config
        self.model_path = config.resolved_model_path()
        if not self.model_path.is_file():
            raise HandModelNotFoundError(
                f"MediaPipe hand model not found: {self.model_path}\n"
                f"Build it once with `hoi-build-hand-model` (writes {default_model_path()}; fetches the "
                "mediapipe==0.10.21 wheel from PyPI, or pass --wheel PATH for an offline build), or point "
                "HandTrackerConfig.model_path (Hydra: tracker.model_path=...) at your own hand_landmarker.task."
            )
        self._model = self.model_path.read_bytes()
        self._image_landmarker = None
        self._closed = False

    # ----------------------------------------------------------------------------------------------- public API
    def detect(self, image: np.ndarray) -> HandTrack:
        """Find hands in one H×W×3 uint8 RGB image (IMAGE mode); return a 1-frame track (fps 1)."""
        image = _check_frames(image, 3, "HandTracker.detect")
        if self._image_landmarker is None:
            self._image_landmarker = self._create("IMAGE")
        height, width = image.shape[:2]
        arrays = _empty_arrays(1)
        fill_frame(arrays, 0, self._image_landmarker.detect(self._mp_image(image)), width, height)
        return HandTrack(**arrays, fps=1.0, image_size=(width, height), source=SOURCE)

    def track(self, frames: np.ndarray, fps: float) -> HandTrack:
        """Track hands through T×H×W×3 uint8 RGB frames (VIDEO mode, timestamps ``t/fps``); return a T-frame track.

        Timestamps are whole milliseconds, made strictly increasing (needed by MediaPipe) when ``fps`` > 1000.
        """
        frames = _check_frames(frames, 4, "HandTracker.track")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"HandTracker.track: fps must be a positive number, got {fps!r}")
        height, width = frames.shape[1:3]
        arrays = _empty_arrays(len(frames))
        landmarker = self._create("VIDEO")
        try:
            stamp = -1
            for t, frame in enumerate(frames):
                stamp = max(round(t * 1000.0 / fps), stamp + 1)
                fill_frame(arrays, t, landmarker.detect_for_video(self._mp_image(frame), stamp), width, height)
        finally:
            landmarker.close()
        return HandTrack(**arrays, fps=float(fps), image_size=(width, height), source=SOURCE)

    def close(self) -> None:
        """Release MediaPipe resources; the tracker cannot be used afterwards."""
        if self._image_landmarker is not None:
            self._image_landmarker.close()
            self._image_landmarker = None
        self._closed = True

    def __enter__(self) -> "HandTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------- internals
    def _create(self, mode: str):
        """A MediaPipe ``HandLandmarker`` in running mode ``mode`` ("IMAGE" or "VIDEO") from the loaded model."""
        if self._closed:
            raise RuntimeError("HandTracker is closed")
        from mediapipe.tasks.python import BaseOptions, vision

        c = self.config
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self._model),
            running_mode=vision.RunningMode[mode],
            num_hands=c.num_hands,
            min_hand_detection_confidence=c.min_hand_detection_confidence,
            min_hand_presence_confidence=c.min_hand_presence_confidence,
            min_tracking_confidence=c.min_tracking_confidence,
        )
        try:
            return vision.HandLandmarker.create_from_options(options)
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with a C++ status message
            raise RuntimeError(
                f"MediaPipe could not load {self.model_path} as a hand landmarker bundle ({exc}). Rebuild it with "
                "`hoi-build-hand-model --force` or point model_path at a valid hand_landmarker.task."
            ) from exc

    @staticmethod
    def _mp_image(frame: np.ndarray):
        import mediapipe as mp

        return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
