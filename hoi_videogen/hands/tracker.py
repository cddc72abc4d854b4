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
from types import SimpleNamespace
from typing import Any

import numpy as np

from hoi2robot.config import close_at_exit
from hoi2robot.contracts import HANDEDNESS, NUM_JOINTS, HandTrack
from hoi_videogen.hands.model_bundle import default_model_path

__all__ = ["HandModelNotFoundError", "HandTracker", "HandTrackerConfig", "changed_fraction", "fit_background",
           "on_background"]

SOURCE = "mediapipe"
PAD_MODES = ("constant", "edge", "reflect")
PAD_GREY = 128


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
        zoom_grid: zoom search on frames where MediaPipe finds no hand: run the IMAGE-mode landmarker on crops
            (first one around the last hand seen within ``zoom_memory`` frames, then a ``zoom_grid`` × ``zoom_grid``
            grid of overlapping crops) and keep what it finds, mapped back to full-image pixels. MediaPipe's palm
            detector sees the whole frame at 192², so a hand ~30 px across in a 256² egocentric frame is often
            missed; a crop magnifies it. 0 = no grid: only crops around a hand seen within ``zoom_memory``
            frames (forward, and backward with ``zoom_backward``), a few IMAGE-mode calls on the frames right next
            to a detection instead of ``zoom_grid``² on every frame without a hand (``configs/tracker/realtime.yaml``).
        background_diff, background_min_changed: with a ``background`` image (:meth:`HandTracker.track`: the
            scene without the hand, e.g. a generator's context frame), a detection is dropped when fewer than
            ``background_min_changed`` of the pixels in its keypoints' bounding box differ from the background by
            more than ``background_diff`` (0–255, largest RGB channel difference): a "hand" over unchanged scenery
            is not one. Generated PickPlaceCan clips at 256² have such "hands" in the dark bins, where the
            generator keeps the context frame's pixels, found with the ``lenient`` thresholds in many frames (in 23
            of 24 seeds; 210 of 734 detections differ from the context in under 2% of their box, the rest spread
            from 2 to 100%: ``bench/results/background_hands_ppc.json``, ``.png``); the retargeter took them for
            the acting hand (``bench/results/generated_first_pickplacecan_256_50_bg.json``).
            A hand over scenery of nearly its own colour (within ``background_diff``) is dropped too.
            ``background_min_changed: 0`` turns it off.
        zoom: false turns the whole zoom search off (MediaPipe on the full frame only).
        zoom_crop: crop side as a fraction of the frame's shorter side, in (0, 1).
        zoom_memory: how many frames back a hand seen gives the first crop's centre.
        zoom_backward: after the forward pass, frames still without a hand that lie at most ``zoom_memory`` frames
            before one with a hand get one more crop, centred on that later hand (latest frames first, so a hand
            found this way centres the crop of the frame before it). Finds a hand entering the view, which has
            no earlier detection to centre a crop on.
        zoom_pad: how far zoom crops may reach past the image border, as a fraction of the crop side, in [0, 0.5);
            the part outside is filled per ``zoom_pad_mode``. A hand cut by the image border then no longer sits at
            the border of what MediaPipe sees (the crop around the last hand stays centred on it, the grid's outer
            crops move outwards); its landmarks may lie outside the image. 0 = crops stay inside the image.
        zoom_pad_mode: fill of the padded part: "constant" (mid grey 128), "edge" (replicate the border pixels) or
            "reflect" (mirror the image at its border).
        zoom_fit: the crop around the last hand seen is this many times that hand's size (the larger side of its
            keypoints' box; at least 20% of the frame's shorter side) when that is smaller than the ``zoom_crop``
            crop, which is then tried next: a small hand
            (e.g. ~40 px in a 256² frame, ~16% of the ``zoom_crop`` crop's side) is magnified to the size MediaPipe's
            palm detector finds reliably. 0 = off (only the ``zoom_crop`` crop). Measured on 48 PickPlaceCan
            engine clips at 256² (hands ~40 px at the far bin, ~50-60 px at the can): 626 -> 632 of 652 hand-frames
            detected with 3 (4: 630), mean error 4.1 -> 4.2 px.
    """

    model_path: str | None = None
    num_hands: int = 2
    min_hand_detection_confidence: float = 0.5
    min_hand_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    zoom: bool = True
    zoom_grid: int = 3
    zoom_crop: float = 0.625
    zoom_memory: int = 4
    zoom_backward: bool = True
    zoom_pad: float = 0.25
    zoom_pad_mode: str = "edge"
    zoom_fit: float = 3.0
    background_diff: float = 40.0
    background_min_changed: float = 0.1

    def __post_init__(self) -> None:
        if self.num_hands not in (1, 2) or isinstance(self.num_hands, bool):
            raise ValueError(f"HandTrackerConfig.num_hands must be 1 or 2, got {self.num_hands!r}")
        for name in ("min_hand_detection_confidence", "min_hand_presence_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"HandTrackerConfig.{name} must be in [0, 1], got {value!r}")
        for name in ("zoom_grid", "zoom_memory"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 8:
                raise ValueError(f"HandTrackerConfig.{name} must be an integer in [0, 8], got {value!r}")
        if isinstance(self.zoom_crop, bool) or not isinstance(self.zoom_crop, (int, float)) or not 0.0 < self.zoom_crop < 1.0:
            raise ValueError(f"HandTrackerConfig.zoom_crop must be in (0, 1), got {self.zoom_crop!r}")
        if isinstance(self.zoom_pad, bool) or not isinstance(self.zoom_pad, (int, float)) or not 0.0 <= self.zoom_pad < 0.5:
            raise ValueError(f"HandTrackerConfig.zoom_pad must be in [0, 0.5), got {self.zoom_pad!r}")
        if not isinstance(self.zoom, bool):
            raise ValueError(f"HandTrackerConfig.zoom must be true or false, got {self.zoom!r}")
        if not isinstance(self.zoom_backward, bool):
            raise ValueError(f"HandTrackerConfig.zoom_backward must be true or false, got {self.zoom_backward!r}")
        if isinstance(self.zoom_fit, bool) or not isinstance(self.zoom_fit, (int, float)) or not (
            self.zoom_fit == 0.0 or 1.5 <= self.zoom_fit <= 8.0
        ):
            raise ValueError(f"HandTrackerConfig.zoom_fit must be 0 (off) or in [1.5, 8], got {self.zoom_fit!r}")
        for name, ok, allowed in (("background_diff", lambda v: 0.0 <= v < 255.0, "[0, 255)"),
                                  ("background_min_changed", lambda v: 0.0 <= v <= 1.0, "[0, 1]")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ValueError(f"HandTrackerConfig.{name} must be in {allowed}, got {value!r}")
        if self.zoom_pad_mode not in PAD_MODES:
            raise ValueError(f"HandTrackerConfig.zoom_pad_mode must be one of {PAD_MODES}, got {self.zoom_pad_mode!r}")

    @classmethod
    def preset(cls, name: str = "mediapipe") -> "HandTrackerConfig":
        """The Hydra preset ``configs/tracker/<name>.yaml`` (e.g. ``realtime``; its defaults list applied), validated.
        Also inside a running Hydra app (``hoi-collect-demos`` building the generated row's tracker)."""
        from omegaconf import OmegaConf

        from hoi2robot.config import compose_config

        return cls(**OmegaConf.to_container(compose_config("pipeline", [f"tracker={name}"]).tracker))

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


def fill_frame(
    arrays: dict[str, np.ndarray],
    t: int,
    result: Any,
    width: int,
    height: int,
    crop: tuple[int, int, int, int] | None = None,
) -> None:
    """Write one ``HandLandmarkerResult`` into frame ``t`` of the track ``arrays`` (see :func:`_empty_arrays`).

    Slot = handedness (0 left, 1 right). Hands are placed in order of decreasing handedness score, so when two
    detections claim the same hand the more confident one gets that slot and the other the free slot.
    ``keypoints_2d`` = ``(x·W, y·H)`` pixels; ``keypoints_world`` = world landmarks (metres, hand-centred);
    ``keypoints_depth`` = landmark ``z`` (relative depth, normalized like ``x``); ``score`` = handedness score.
    ``crop`` = ``(x0, y0, w, h)``: the result is of that crop of the ``width`` × ``height`` frame (zoom search);
    its landmarks are mapped back to full-frame pixels and ``z`` rescaled to the full frame's width.
    """
    x0, y0, cw, ch = crop if crop is not None else (0, 0, width, height)
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
        arrays["keypoints_2d"][t, slot] = image_lm[:, :2] * np.array([cw, ch], np.float32) + np.array([x0, y0], np.float32)
        arrays["keypoints_depth"][t, slot] = image_lm[:, 2] * (cw / width)
        arrays["keypoints_world"][t, slot] = world_lm
        arrays["score"][t, slot] = min(max(float(category.score), 0.0), 1.0)
        arrays["valid"][t, slot] = True


def fit_background(image: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``image`` (H×W×3 uint8: the scene a video was generated from) at the size of ``frames`` (T×h×w×3), resized
    with area averaging if needed: the ``background`` of :meth:`HandTracker.track` for a generated video."""
    image = _check_frames(image, 3, "fit_background")
    h, w = frames.shape[1:3]
    if image.shape[:2] == (h, w):
        return image
    import cv2

    return np.ascontiguousarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA))


def changed_fraction(
    frame: np.ndarray, background: np.ndarray, keypoints_2d: np.ndarray, pixel_diff: float
) -> float | None:
    """The fraction of the pixels of a detection's keypoints' bounding box (``keypoints_2d``: 21×2 pixels in
    ``frame``, clipped to the image) that differ from ``background`` (same size, without the hand) by more than
    ``pixel_diff`` in their largest RGB channel difference; None when the box lies entirely outside the image."""
    height, width = frame.shape[:2]
    lo = np.clip(np.floor(keypoints_2d.min(axis=0)).astype(int), 0, [width, height])
    hi = np.clip(np.ceil(keypoints_2d.max(axis=0)).astype(int) + 1, 0, [width, height])
    if np.any(hi <= lo):
        return None
    box = (slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    diff = np.abs(frame[box].astype(np.int16) - background[box].astype(np.int16)).max(axis=-1)
    return float((diff > pixel_diff).mean())


def on_background(
    frame: np.ndarray, background: np.ndarray, keypoints_2d: np.ndarray, pixel_diff: float, min_changed: float
) -> bool:
    """Whether a detection lies over unchanged scenery: its :func:`changed_fraction` is below ``min_changed``. A box
    entirely outside the image cannot be judged and is kept (False); ``min_changed`` 0 keeps everything."""
    if min_changed <= 0:
        return False
    changed = changed_fraction(frame, background, keypoints_2d, pixel_diff)
    return changed is not None and changed < min_changed


def zoom_crops(
    width: int, height: int, grid: int, frac: float, centre: np.ndarray | None = None, pad: int = 0
) -> list[tuple[int, int, int, int]]:
    """Square crops ``(x0, y0, side, side)`` of a ``width`` × ``height`` frame for the zoom search: one centred on
    ``centre`` (pixels; clamped into the allowed range) if given, then a ``grid`` × ``grid`` grid of overlapping
    crops covering the frame (side = ``frac`` × the shorter side). ``pad`` = pixels a crop may reach past each image
    border (so ``x0`` may be negative); the outer grid crops sit that far out."""
    side = max(int(round(frac * min(width, height))), 1)
    pad = max(int(pad), 0)
    lo, hi_x, hi_y = -pad, width - side + pad, height - side + pad
    out = []
    if centre is not None:
        cx, cy = (int(round(v - side / 2)) for v in centre)
        out.append((min(max(cx, lo), hi_x), min(max(cy, lo), hi_y), side, side))
    if grid > 0:
        xs = np.linspace(lo, hi_x, grid).round().astype(int)
        ys = np.linspace(lo, hi_y, grid).round().astype(int)
        out += [(int(x), int(y), side, side) for y in ys for x in xs]
    return out


def pad_frame(frame: np.ndarray, pad: int, mode: str) -> np.ndarray:
    """``frame`` (H×W×3) with ``pad`` pixels added on every side, filled per ``mode`` (see ``PAD_MODES``;
    "constant" = grey ``PAD_GREY``; "reflect" repeats the mirror when ``pad`` exceeds the image)."""
    if pad <= 0:
        return frame
    if mode not in PAD_MODES:
        raise ValueError(f"pad_frame: mode must be one of {PAD_MODES}, got {mode!r}")
    widths = ((pad, pad), (pad, pad), (0, 0))
    if mode == "constant":
        return np.pad(frame, widths, mode="constant", constant_values=PAD_GREY)
    return np.pad(frame, widths, mode=mode)


def _hand_centre(arrays: dict[str, np.ndarray], t: int) -> np.ndarray:
    """Mean pixel of the keypoints of the hands found in frame ``t`` (a zoom crop's centre), then their size: the
    larger side of the keypoints' bounding box, pixels (3 values)."""
    px = arrays["keypoints_2d"][t][arrays["valid"][t]].reshape(-1, 2)
    return np.array([*px.mean(axis=0), float(np.ptp(px, axis=0).max())])


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
        if not arrays["valid"][0].any():
            self._zoom_search(image, arrays, 0, None)
        return HandTrack(**arrays, fps=1.0, image_size=(width, height), source=SOURCE)

    def track(self, frames: np.ndarray, fps: float, background: np.ndarray | None = None) -> HandTrack:
        """Track hands through T×H×W×3 uint8 RGB frames (VIDEO mode, timestamps ``t/fps``); return a T-frame track.

        Timestamps are whole milliseconds, made strictly increasing (needed by MediaPipe) when ``fps`` > 1000.
        ``background``: an H×W×3 uint8 image of the same scene without the hand (a generator's context frame):
        detections over unchanged scenery are dropped (``HandTrackerConfig.background_min_changed``), also in the
        zoom search, which then goes on looking for the real hand.
        """
        frames = _check_frames(frames, 4, "HandTracker.track")
        if background is not None:
            background = _check_frames(background, 3, "HandTracker.track background")
            if background.shape != frames.shape[1:]:
                raise ValueError(f"HandTracker.track: background is {background.shape[1]}×{background.shape[0]}, "
                                 f"the frames {frames.shape[2]}×{frames.shape[1]}")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"HandTracker.track: fps must be a positive number, got {fps!r}")
        height, width = frames.shape[1:3]
        arrays = _empty_arrays(len(frames))
        landmarker = self._create("VIDEO")
        try:
            stamp, seen_at, seen = -1, -1, None
            for t, frame in enumerate(frames):
                stamp = max(round(t * 1000.0 / fps), stamp + 1)
                fill_frame(arrays, t, landmarker.detect_for_video(self._mp_image(frame), stamp), width, height)
                for s in np.flatnonzero(arrays["valid"][t]):
                    if self._is_scenery(frame, background, arrays["keypoints_2d"][t, s]):
                        for a in arrays.values():  # the slot back to empty (all zeros, not valid)
                            a[t, s] = 0
                if not arrays["valid"][t].any():
                    recent = seen if t - seen_at <= self.config.zoom_memory else None
                    self._zoom_search(frame, arrays, t, recent, background=background)
                if arrays["valid"][t].any():
                    seen_at, seen = t, _hand_centre(arrays, t)
        finally:
            landmarker.close()
        if self.config.zoom and self.config.zoom_backward:
            seen_at, seen = len(frames), None
            for t in range(len(frames) - 1, -1, -1):
                if not arrays["valid"][t].any() and seen is not None and seen_at - t <= self.config.zoom_memory:
                    self._zoom_search(frames[t], arrays, t, seen, grid=False, background=background)
                if arrays["valid"][t].any():
                    seen_at, seen = t, _hand_centre(arrays, t)
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
    def _is_scenery(self, frame: np.ndarray, background: np.ndarray | None, keypoints_2d: np.ndarray) -> bool:
        """Whether a detection lies over the unchanged ``background`` of a :meth:`track` call (None: never)."""
        c = self.config
        return background is not None and on_background(frame, background, keypoints_2d, c.background_diff,
                                                         c.background_min_changed)  # fmt: skip

    def _zoom_search(
        self, frame: np.ndarray, arrays: dict[str, np.ndarray], t: int, centre: np.ndarray | None, grid: bool = True,
        background: np.ndarray | None = None,
    ) -> None:
        """Look for hands in magnified crops of a frame where none was found (see ``HandTrackerConfig.zoom_grid``).

        ``centre``: (u, v, size) of the last hand seen (:func:`_hand_centre`) or None. The crop around it (first
        one fitted to its size, if ``zoom_fit`` is on) is tried alone first; if it finds nothing, every grid crop
        is searched and each hand is taken from the crop where it lies farthest from the crop's border (a hand cut
        by the border gets poor landmarks); detections of one hand from several crops are merged. ``background``:
        the :meth:`track` call's; a hand over it is not kept (:meth:`_is_scenery`).
        """
        c = self.config
        if not c.zoom or (centre is None and (not grid or c.zoom_grid == 0)):
            return
        if self._image_landmarker is None:
            self._image_landmarker = self._create("IMAGE")
        height, width = frame.shape[:2]
        pad = int(round(c.zoom_pad * max(int(round(c.zoom_crop * min(width, height))), 1)))
        padded = pad_frame(frame, pad, c.zoom_pad_mode)
        passes = []
        if centre is not None:
            side = c.zoom_fit * float(centre[2]) / min(width, height)  # the crop fitted to the last hand's size
            if c.zoom_fit > 0 and side < c.zoom_crop:
                passes.append(zoom_crops(width, height, 0, max(side, 0.2), centre[:2], pad))
            passes.append(zoom_crops(width, height, 0, c.zoom_crop, centre[:2], pad))
        if grid and c.zoom_grid > 0:
            passes.append(zoom_crops(width, height, c.zoom_grid, c.zoom_crop, pad=pad))
        for crops in passes:
            found = []  # (margin, crop, single-hand result)
            for x0, y0, cw, ch in crops:
                px0, py0 = x0 + pad, y0 + pad  # the crop in the padded frame
                result = self._image_landmarker.detect(self._mp_image(padded[py0 : py0 + ch, px0 : px0 + cw]))
                for i in range(len(result.handedness)):
                    lm = np.array([(p.x, p.y) for p in result.hand_landmarks[i]])
                    margin = float(min(lm.min(), 1.0 - lm.max()))  # distance to the crop border, crop units
                    one = SimpleNamespace(handedness=[result.handedness[i]], hand_landmarks=[result.hand_landmarks[i]],
                                          hand_world_landmarks=[result.hand_world_landmarks[i]])  # fmt: skip
                    found.append((margin, (x0, y0, cw, ch), one, lm * (cw, ch) + (x0, y0)))
            kept: list[np.ndarray] = []
            for margin, crop, one, px in sorted(found, key=lambda f: -f[0]):
                size = float(np.ptp(px, axis=0).max())
                if any(np.linalg.norm(px[0] - k[0]) < 0.5 * size for k in kept) or len(kept) >= c.num_hands:
                    continue  # the same hand seen from another crop
                if self._is_scenery(frame, background, px):
                    continue  # scenery taken for a hand
                kept.append(px)
                fill_frame(arrays, t, one, width, height, crop)
            if kept:
                return

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
            return close_at_exit(vision.HandLandmarker.create_from_options(options))
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with a C++ status message
            raise RuntimeError(
                f"MediaPipe could not load {self.model_path} as a hand landmarker bundle ({exc}). Rebuild it with "
                "`hoi-build-hand-model --force` or point model_path at a valid hand_landmarker.task."
            ) from exc

    @staticmethod
    def _mp_image(frame: np.ndarray):
        import mediapipe as mp

        return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
