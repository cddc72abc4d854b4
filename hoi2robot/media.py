"""Image and video files: the one place that encodes and decodes them (imageio + its bundled ffmpeg)."""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

# libx264rgb at qp 0 stores RGB exactly (no YUV conversion, no chroma subsampling): datasets keep their pixels.
_LOSSLESS = {"codec": "libx264rgb", "pixelformat": "rgb24", "output_params": ["-qp", "0", "-preset", "veryfast"]}
# Viewable everywhere (browsers, players): yuv420p needs even sizes, so odd frames are padded by one pixel.
_PREVIEW = {"codec": "libx264", "pixelformat": "yuv420p", "output_params": ["-crf", "18", "-preset", "veryfast"]}


def _frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"expected T×H×W×3 uint8 frames (T >= 1), got {frames.shape} {frames.dtype}")
    return frames


def write_video(path: str | Path, frames: np.ndarray, fps: float, lossless: bool = False) -> Path:
    """Write T×H×W×3 uint8 RGB frames to an mp4 (H.264). ``lossless`` keeps every pixel exactly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = _frames(frames)
    opts = _LOSSLESS if lossless else _PREVIEW
    if not lossless and (frames.shape[1] % 2 or frames.shape[2] % 2):
        pad = ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0))
        frames = np.pad(frames, pad, mode="edge")
    iio.imwrite(path, frames, plugin="FFMPEG", fps=float(fps), macro_block_size=1, **opts)
    return path


def read_video(path: str | Path) -> np.ndarray:
    """Read a video file into T×H×W×3 uint8 RGB frames."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such video: {path}")
    frames = iio.imread(path, plugin="FFMPEG")
    return _frames(frames)


def video_fps(path: str | Path) -> float:
    """Frames per second stored in a video file."""
    return float(iio.immeta(path, plugin="FFMPEG").get("fps", 0.0))


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an H×W×3 (RGB) or H×W (gray) uint8 image; the format follows the suffix (png, jpg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected an H×W(×3) uint8 image, got {image.shape} {image.dtype}")
    iio.imwrite(path, image)
    return path


def read_image(path: str | Path, gray: bool = False) -> np.ndarray:
    """Read an image as H×W×3 uint8 RGB (or H×W uint8 when ``gray``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image: {path}")
    image = iio.imread(path)
    if gray:
        return image if image.ndim == 2 else image[..., :3].mean(axis=-1).round().astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])
