"""Instruction paraphrases per task, for text augmentation of HOIClips.

The canonical instruction of a task has one source of truth, the task registry
(``sim.tasks.get_spec(task).instruction``); this module only adds other phrasings of it.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np

__all__ = ["EXTRA_PARAPHRASES", "canonical_instruction", "paraphrases", "sample_instruction"]

# Other phrasings of each task's canonical instruction (which comes from the task registry, not from here).
EXTRA_PARAPHRASES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "Lift": (
        "lift the red cube",
        "grab the red cube and lift it up",
        "pick the red block up off the table",
        "raise the red cube",
        "take the red cube in your hand and lift it",
        "grasp the red cube and hold it up",
        "lift the red block from the table",
    ),
    "Stack": (
        "put the red cube on top of the green cube",
        "place the red block on the green block",
        "stack the red block onto the green one",
        "pick up the red cube and set it on the green cube",
        "put the red cube onto the green cube",
        "move the red cube on top of the green block",
        "place the red cube so it rests on the green cube",
    ),
    "PickPlaceCan": (
        "put the can in the bin",
        "move the can into the bin",
        "grab the can and drop it in the bin",
        "place the can into the bin",
        "pick the can up and place it in the bin",
        "take the can and put it into the bin",
        "transfer the can to the bin",
    ),
    "Push": (
        "push the cube to the target",
        "slide the cube into the target area",
        "push the block onto the target",
        "nudge the cube into the marked region",
        "shove the cube onto the target disc",
        "slide the block to the target",
        "push the cube until it is on the target",
    ),
})  # fmt: skip


def canonical_instruction(task: str) -> str:
    """The task's default instruction, from the task registry (``sim.tasks.get_spec``)."""
    from sim.tasks.specs import get_spec

    return get_spec(task).instruction


def paraphrases(task: str) -> list[str]:
    """All phrasings of ``task``'s instruction: the canonical one first, then the extra paraphrases.

    Raises:
        ValueError: unknown task (naming the valid ones).
    """
    canonical = canonical_instruction(task)  # validates the task name
    extra = EXTRA_PARAPHRASES.get(task, ())
    return [canonical] + [p for p in extra if p != canonical]


def sample_instruction(task: str, rng: np.random.Generator | int | None = None) -> str:
    """One of :func:`paraphrases` of ``task``, chosen uniformly by ``rng`` (a Generator or a seed)."""
    options = paraphrases(task)
    return options[int(np.random.default_rng(rng).integers(len(options)))]
