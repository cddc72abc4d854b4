"""HOIClip datasets: the folder format, its writer and reader, the motion-area mask, instruction paraphrases.

* :class:`DatasetWriter` / :class:`HOIClipDataset` — a dataset root of clip folders + ``manifest.jsonl``
  (atomic, resumable; see :mod:`hoi_videogen.data.dataset`).
* :func:`motion_area_mask` — HANDI's MA mask from hand keypoints.
* :func:`paraphrases` / :func:`sample_instruction` — instruction text per task.
* :mod:`hoi_videogen.data.validate` — MediaPipe vs GT hand keypoints over a dataset (imports MediaPipe lazily).
"""
from hoi_videogen.data.dataset import (
    CLIPS_DIR,
    INFO,
    MANIFEST,
    DatasetError,
    DatasetWriter,
    HOIClipDataset,
    clip_record,
    read_manifest,
)
from hoi_videogen.data.instructions import canonical_instruction, paraphrases, sample_instruction
from hoi_videogen.data.ma_mask import hull_mask, motion_area_mask

__all__ = [
    "CLIPS_DIR",
    "INFO",
    "MANIFEST",
    "DatasetError",
    "DatasetWriter",
    "HOIClipDataset",
    "canonical_instruction",
    "clip_record",
    "hull_mask",
    "motion_area_mask",
    "paraphrases",
    "read_manifest",
    "sample_instruction",
]
