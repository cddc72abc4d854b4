"""Video generator backends behind one registry: ``build_generator({"name": ..., **kwargs})``.

A backend turns a camera frame and an instruction into a :class:`~hoi2robot.contracts.GeneratedVideo`::

    gen = build_generator({"name": "tiny"})
    video = gen.generate(frame, "pick up the red cube", seed=0)

Backends register a dotted ``"module:factory"`` target, so importing this module stays cheap and a backend's heavy
dependencies (torch, diffusers, the MuJoCo engine) load only when it is built. The factory is called with the
config's remaining keys as keyword arguments and returns an object with the :class:`VideoGenerator` interface.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hoi2robot.contracts import CameraModel, GeneratedVideo

__all__ = ["GENERATORS", "VideoGenerator", "register_generator", "build_generator", "ProgressFn",
           "weights_fingerprint"]

ProgressFn = Callable[[float], None]
"""Called with the fraction of the generation done, in [0, 1]; may raise to cancel (e.g. on a ROS cancel)."""


@runtime_checkable
class VideoGenerator(Protocol):
    """The interface every backend implements."""

    name: str

    def generate(
        self,
        image: np.ndarray,
        instruction: str,
        *,
        seed: int = 0,
        camera: CameraModel | None = None,
        progress: ProgressFn | None = None,
    ) -> GeneratedVideo:
        """``image``: H×W×3 uint8 RGB context frame; returns a video whose frame 0 is that frame's reconstruction.

        Backends with a motion-area stage (``tiny``, ``diffusers-i2v``) also take ``ma_mask=`` (an H×W mask used
        instead of their own), which ``hoi-eval-generator gt_ma_row=true`` uses to score stage 2 on the GT area."""
        ...


GENERATORS: dict[str, str] = {
    # name -> "module:factory"; a backend adds itself here with register_generator (or a line below).
    "tiny": "hoi_videogen.pipeline:load_tiny_generator",
    "diffusers-i2v": "hoi_videogen.i2v:build_i2v_generator",
    "engine": "sim.handsim.replay:build_engine_generator",
}


def register_generator(name: str, target: str | Callable[..., VideoGenerator]) -> None:
    """Register a backend under ``name``: a ``"module:factory"`` string or the factory itself."""
    if not name or not isinstance(name, str):
        raise ValueError(f"generator name must be a non-empty string, got {name!r}")
    GENERATORS[name] = target  # type: ignore[assignment]


def weights_fingerprint(cfg: Mapping[str, Any]) -> str | None:
    """A short sha256 of the weight and config files a generator config loads (its ``path`` folder, or the shipped
    weights of ``tiny`` without one); None for a backend that loads none (e.g. ``engine``).

    Demo collections record it, so that seeds generated with other weights are never reused as if they were the same.
    """
    path = cfg.get("path")
    if path is None and cfg.get("name") == "tiny":
        from hoi_videogen.pipeline import TINY_WEIGHTS

        path = TINY_WEIGHTS
    if path is None:
        return None
    root = Path(path)
    files = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix in (".safetensors", ".bin", ".json"))
    if not files:
        raise FileNotFoundError(f"generator weights folder {root} has no weight files")
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build_generator(cfg: Mapping[str, Any]) -> VideoGenerator:
    """Build the backend ``cfg["name"]`` with the other keys of ``cfg`` as keyword arguments."""
    cfg = dict(cfg)
    name = cfg.pop("name", None)
    if name not in GENERATORS:
        raise KeyError(f"unknown generator {name!r}; known: {sorted(GENERATORS)}")
    target = GENERATORS[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise RuntimeError(f"generator {name!r}: cannot load {target} ({exc})") from exc
    else:
        factory = target
    gen = factory(**cfg)
    if not isinstance(gen, VideoGenerator):
        raise TypeError(f"generator {name!r}: factory returned {type(gen).__name__}, which has no generate()/name")
    return gen
