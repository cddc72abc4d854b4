"""An ORACLE video generator for sim plumbing tests: it replays the engine's scripted demo instead of generating.

``build_generator({"name": "engine", "task": "Lift"})`` (registered in :mod:`hoi_videogen.generators`) returns an
:class:`EngineGenerator`; ``generate(image, instruction)`` renders the engine demo of (task, seed) from the camera
at the image's resolution (:func:`sim.handsim.engine.make_clip`) and returns its video and MA mask as a
:class:`GeneratedVideo`. The task comes from the builder's ``task`` or, if that is None, from the instruction (a
task's canonical instruction or one of its paraphrases, :mod:`hoi_videogen.data.instructions`; matched ignoring case,
surrounding blanks and a final full stop). The input image itself is not used beyond its size: the demo is the
engine's own scene for that seed, which is the robot env's scene for the same seed (the sim harness resets the robot
env with the seed it passes here). It is ground truth, not a model: use it to test everything downstream of the
generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hoi2robot.contracts import GeneratedVideo
from hoi_videogen.data.instructions import paraphrases

__all__ = ["ENGINE_TASKS", "EngineGenerator", "build_engine_generator", "task_from_instruction"]

ENGINE_TASKS = ("Lift", "Stack", "PickPlaceCan", "Push")  # tasks with a scripted engine demo


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(".").split())


def task_from_instruction(instruction: str) -> str:
    """The engine task whose canonical instruction or a paraphrase equals ``instruction`` (case/blank-insensitive).

    Raises:
        ValueError: no task (or more than one) matches; the message lists what each task accepts.
    """
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError(f"instruction must be a non-empty string, got {instruction!r}")
    want = _norm(instruction)
    hits = [t for t in ENGINE_TASKS if want in {_norm(p) for p in paraphrases(t)}]
    if len(hits) == 1:
        return hits[0]
    known = "; ".join(f"{t}: {paraphrases(t)[0]!r} (+{len(paraphrases(t)) - 1} paraphrases)" for t in ENGINE_TASKS)
    why = f"matches several tasks {hits}" if hits else "matches no task's instruction"
    raise ValueError(f"engine generator: instruction {instruction!r} {why}; pass task= explicitly or use one of: "
                     f"{known}")  # fmt: skip


@dataclass
class EngineGenerator:
    """Replays engine demos (see the module doc). ``resolution=None``: render at the input image's size."""

    task: str | None = None
    seed: int = 0
    camera: str = "egoview"
    num_frames: int = 16
    resolution: int | None = None
    name: str = "engine"

    def __post_init__(self) -> None:
        if self.task is not None and self.task not in ENGINE_TASKS:
            raise ValueError(f"engine generator: task must be one of {ENGINE_TASKS} or None, got {self.task!r}")
        if int(self.num_frames) < 2:
            raise ValueError(f"engine generator: num_frames must be >= 2, got {self.num_frames!r}")
        if self.resolution is not None and int(self.resolution) < 16:
            raise ValueError(f"engine generator: resolution must be >= 16 px or None, got {self.resolution!r}")

    def generate(self, image, instruction: str, *, seed=None, camera=None, progress=None) -> GeneratedVideo:
        """The engine demo of (task, ``seed``) from ``camera`` as a :class:`GeneratedVideo`.

        Args:
            image: H×W×3 uint8 context frame (square); only its size is used.
            instruction: the task text (also picks the task when the generator has none).
            seed: demo seed (None: the generator's ``seed``).
            camera: camera name (None: the generator's ``camera``); a ``CameraModel`` is accepted too (its name).
            progress: called with the fraction done (0 at the start, 1 at the end).
        """
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"engine generator: image must be H×W×3 uint8, got shape {img.shape} dtype {img.dtype}")
        if img.shape[0] != img.shape[1]:
            raise ValueError(f"engine generator: image must be square (the engine renders square frames), "
                             f"got {img.shape[0]}×{img.shape[1]}")  # fmt: skip
        task = self.task or task_from_instruction(instruction)
        seed = self.seed if seed is None else seed
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"engine generator: seed must be a non-negative integer, got {seed!r}")
        cam = self.camera if camera is None else getattr(camera, "name", camera)
        size = int(self.resolution) if self.resolution is not None else int(img.shape[0])
        if progress is not None:
            progress(0.0)
        from sim.handsim.engine import make_clip  # heavy (MuJoCo scene): only when generating

        clip = make_clip(task, int(seed), resolution=size, num_frames=int(self.num_frames), camera=str(cam))
        video = GeneratedVideo(frames=clip.video, ma_mask=clip.ma_mask, fps=clip.fps, instruction=instruction,
                               seed=int(seed), generator=f"engine:{task}")  # fmt: skip
        if progress is not None:
            progress(1.0)
        return video


def build_engine_generator(
    task: str | None = None,
    seed: int = 0,
    camera: str = "egoview",
    num_frames: int = 16,
    resolution: int | None = None,
) -> EngineGenerator:
    """The ``engine`` generator (factory of :func:`hoi_videogen.generators.build_generator`)."""
    return EngineGenerator(task=task, seed=seed, camera=camera, num_frames=num_frames, resolution=resolution)
