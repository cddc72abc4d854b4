"""HOIClip dataset folders: one folder per clip plus an append-only ``manifest.jsonl``.

Layout of a dataset root::

    manifest.jsonl     one JSON object per finished clip (see :func:`clip_record`), appended in order
    dataset.json       what every clip shares (e.g. resolution, fps, camera, source); checked on every reopen
    clips/<id>/        one HOIClip folder each, written by :meth:`HOIClip.save` (temp folder + rename); the
                       folder belongs to the writer, which removes what is not a valid clip
    .lock              held (``flock``) by the one open :class:`DatasetWriter`

A clip is *in* the dataset once its manifest line is written; the folder is always renamed into place first.
A run killed at any moment therefore leaves at most: a ``clips/.<id>.tmp-*`` folder (removed on the next open),
a finished clip folder without its line (validated with :meth:`HOIClip.load` and its line re-appended, or removed
when invalid), or an unterminated last manifest line (dropped; readers ignore it with a warning).

Only one process writes a dataset (:class:`DatasetWriter` takes an exclusive lock on the root); parallel producers
hand their clips to it. :class:`HOIClipDataset` reads a dataset without torch.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from hoi2robot.contracts import ContractError, HOIClip

__all__ = [
    "CLIPS_DIR",
    "DatasetError",
    "DatasetWriter",
    "HOIClipDataset",
    "INFO",
    "MANIFEST",
    "clip_record",
    "read_manifest",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
INFO = "dataset.json"
CLIPS_DIR = "clips"
LOCK = ".lock"
RECORD_KEYS = ("id", "path", "task", "seed", "instruction", "success", "num_frames", "fps", "width", "height")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TMP = re.compile(r"\..*\.tmp-")  # HOIClip.save's temp folders: .<name>.tmp-XXXX


class DatasetError(ValueError):
    """A dataset folder or one of its clips is missing, corrupt, or used inconsistently (the message says which)."""


# ------------------------------------------------------------------------------------------------------- records
def clip_record(clip: HOIClip, clip_id: str, path: str) -> dict[str, Any]:
    """The manifest row of ``clip``: identity, labels, sizes and a few cheap stats.

    Stats: ``camera`` (name), ``ma_area`` (fraction of the image in the motion area), ``hand_frames`` (fraction of
    frames with a hand present), ``visible_keypoints`` (mean visible keypoints per present hand and frame, of 21),
    ``paraphrases`` (count), ``source`` (``clip.meta["source"]`` when given).
    """
    present = clip.hand_present
    return {
        "id": clip_id,
        "path": path,
        "task": clip.task,
        "seed": clip.seed,
        "instruction": clip.instruction,
        "success": clip.success,
        "num_frames": clip.num_frames,
        "fps": clip.fps,
        "width": clip.camera.width,
        "height": clip.camera.height,
        "camera": clip.camera.name,
        "ma_area": round(float(clip.ma_mask.mean()), 5),
        "hand_frames": round(float(present.any(axis=1).mean()), 5),
        "visible_keypoints": round(float(clip.visibility[present].sum(-1).mean()) if present.any() else 0.0, 3),
        "paraphrases": len(clip.paraphrases),
        "source": clip.meta.get("source"),
    }


def read_manifest(path: str | Path) -> tuple[list[dict[str, Any]], int, bool]:
    """Parse a manifest: ``(records, good_bytes, truncated)``.

    ``good_bytes`` is the length of the complete, newline-terminated lines; ``truncated`` says whether bytes after
    them (an unterminated last line: a write cut short) were ignored. A complete line that is not a record, or a
    repeated id, raises :class:`DatasetError` naming the line.
    """
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    good = data.rfind(b"\n") + 1
    records, seen = [], set()
    for lineno, line in enumerate(data[:good].split(b"\n")[:-1], start=1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{lineno} is not valid JSON ({exc})") from None
        missing = [k for k in RECORD_KEYS if k not in rec] if isinstance(rec, dict) else list(RECORD_KEYS)
        if missing:
            raise DatasetError(f"{path}:{lineno} is not a clip record (missing {missing})")
        if rec["id"] in seen:
            raise DatasetError(f"{path}:{lineno} repeats clip id {rec['id']!r}")
        seen.add(rec["id"])
        records.append(rec)
    return records, good, good < len(data)


def _fsync_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -------------------------------------------------------------------------------------------------------- writer
class DatasetWriter:
    """The single writer of a dataset root: adds clips, and repairs what a killed run left behind when opened.

    Args:
        root: the dataset folder (created if missing).
        info: what every clip of this dataset shares (JSON-serializable, e.g. resolution, fps, camera, source).
            Written to ``dataset.json`` while the dataset has no clips; later opens with a different value for any
            key raise :class:`DatasetError`, so one dataset never mixes incompatible clips.

    Attributes:
        recovered: what the opening repair did: ``removed_tmp``, ``readded`` and ``removed_invalid`` (clip folders
            without a manifest line), ``dropped_missing`` (manifest lines whose folder is gone), ``truncated``
            (an unterminated last line was dropped); each a list of names, or a bool for ``truncated``.

    Raises:
        DatasetError: another writer has the dataset open, the manifest is corrupt, or ``info`` disagrees.
    """

    def __init__(self, root: str | Path, info: dict[str, Any] | None = None) -> None:
        self.root = Path(root)
        (self.root / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
        self._lock = open(self.root / LOCK, "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise DatasetError(f"{self.root} is being written by another process (it holds {self.root / LOCK})")
        try:
            self.recovered = self._repair_manifest()
            self._manifest = open(self.root / MANIFEST, "a")
            self._adopt_orphans()
            self._check_info(info)
        except BaseException:
            self.close()
            raise
        if any(self.recovered.values()):
            log.info("repaired %s: %s", self.root, {k: v for k, v in self.recovered.items() if v})

    # ------------------------------------------------------------------------------------------------- public
    def add(self, clip: HOIClip, clip_id: str) -> dict[str, Any]:
        """Write ``clip`` as ``clips/<clip_id>/`` (atomic), then append its manifest line; return the record."""
        if not isinstance(clip, HOIClip):
            raise TypeError(f"DatasetWriter.add: expected an HOIClip, got {type(clip).__name__}")
        if not isinstance(clip_id, str) or not _ID.fullmatch(clip_id):
            raise ValueError(f"DatasetWriter.add: clip id must match {_ID.pattern} (a folder name), got {clip_id!r}")
        if self._manifest is None:
            raise RuntimeError(f"DatasetWriter for {self.root} is closed")
        if clip_id in self._records:
            raise DatasetError(f"clip {clip_id!r} is already in {self.root}")
        rel = f"{CLIPS_DIR}/{clip_id}"
        clip.save(self.root / rel)
        record = clip_record(clip, clip_id, rel)
        self._append(record)
        return record

    def done_ids(self) -> set[str]:
        """Ids of the clips in the dataset (those with a manifest line): what a resumed run skips."""
        return set(self._records)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The manifest rows, in order."""
        return [dict(r) for r in self._records.values()]

    def close(self) -> None:
        """Close the manifest and release the lock (idempotent)."""
        if getattr(self, "_manifest", None) is not None:
            self._manifest.close()
            self._manifest = None
        if not self._lock.closed:
            self._lock.close()  # closing the file releases the flock

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------- internals
    def _append(self, record: dict[str, Any]) -> None:
        self._manifest.write(json.dumps(record) + "\n")  # one write: a kill leaves at most an unterminated line
        self._manifest.flush()
        os.fsync(self._manifest.fileno())
        self._records[record["id"]] = record

    def _check_info(self, info: dict[str, Any] | None) -> None:
        path = self.root / INFO
        stored = json.loads(path.read_text()) if path.is_file() else None
        if info is None:
            return
        info = json.loads(json.dumps(info))  # normalize tuples etc. as they would read back
        if stored is None or not self._records:  # a dataset without clips takes the new settings
            _fsync_write(path, json.dumps(info, indent=2) + "\n")
            return
        diff = {k: (stored.get(k), v) for k, v in info.items() if stored.get(k) != v}
        if diff:
            what = ", ".join(f"{k}={old!r} there but {new!r} here" for k, (old, new) in diff.items())
            raise DatasetError(f"{self.root} holds a different dataset ({what}); write to another folder")

    def _repair_manifest(self) -> dict[str, Any]:
        """Drop an unterminated last line and lines whose clip folder is gone (rewriting the manifest atomically)."""
        manifest = self.root / MANIFEST
        records, _, truncated = read_manifest(manifest)
        kept = [r for r in records if (self.root / r["path"]).is_dir()]
        missing = [r["id"] for r in records if not (self.root / r["path"]).is_dir()]
        for clip_id in missing:
            log.warning("%s: dropping the manifest line of clip %r, whose folder is gone", self.root, clip_id)
        if truncated or missing or not manifest.exists():
            _fsync_write(manifest, "".join(json.dumps(r) + "\n" for r in kept))
        self._records = {r["id"]: r for r in kept}
        return {"truncated": truncated, "dropped_missing": missing, "removed_tmp": [], "readded": [],
                "removed_invalid": []}  # fmt: skip

    def _adopt_orphans(self) -> None:
        """Clip folders without a manifest line: temp folders are removed, finished clips validated and re-added."""
        listed = {r["path"] for r in self._records.values()}
        for entry in sorted((self.root / CLIPS_DIR).iterdir()):
            rel = f"{CLIPS_DIR}/{entry.name}"
            if not entry.is_dir() or rel in listed:
                continue
            if _TMP.match(entry.name):
                shutil.rmtree(entry)
                self.recovered["removed_tmp"].append(entry.name)
                continue
            try:
                if not _ID.fullmatch(entry.name):
                    raise ContractError(f"{entry.name!r} is not a clip id")
                clip = HOIClip.load(entry)
            except (ValueError, KeyError, OSError) as exc:  # ContractError is a ValueError
                log.warning("removing invalid clip folder %s (%s)", entry, exc)
                shutil.rmtree(entry)
                self.recovered["removed_invalid"].append(entry.name)
                continue
            self._append(clip_record(clip, entry.name, rel))
            self.recovered["readded"].append(entry.name)


# -------------------------------------------------------------------------------------------------------- reader
class HOIClipDataset(Sequence):
    """Read-only view of a dataset root: ``len``, ``ds[i] -> HOIClip``, ``ds.get(id)``, ``ds.filter(...)``.

    The manifest is read once, on construction. An unterminated last manifest line (a writer killed mid-write) is
    ignored with a warning. Loading a clip whose folder is missing or corrupt raises :class:`DatasetError` naming
    the clip. Does not import torch (adapters for torch ``Dataset`` wrap this).
    """

    def __init__(self, root: str | Path, records: list[dict[str, Any]] | None = None) -> None:
        self.root = Path(root)
        if records is None:
            manifest = self.root / MANIFEST
            if not manifest.is_file():
                raise DatasetError(f"{self.root} is not an HOIClip dataset (no {MANIFEST})")
            records, _, truncated = read_manifest(manifest)
            if truncated:
                warnings.warn(
                    f"{manifest}: ignoring an unterminated last line (a writer was interrupted); "
                    "reopening the dataset with DatasetWriter repairs it",
                    stacklevel=2,
                )
        self._records = [dict(r) for r in records]
        self._index = {r["id"]: i for i, r in enumerate(self._records)}

    @property
    def records(self) -> list[dict[str, Any]]:
        """The manifest rows of this view, in manifest order (copies)."""
        return [dict(r) for r in self._records]

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self._records]

    @property
    def info(self) -> dict[str, Any]:
        """The dataset's shared settings (``dataset.json``), or ``{}`` if it has none."""
        path = self.root / INFO
        return json.loads(path.read_text()) if path.is_file() else {}

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> HOIClip:  # type: ignore[override]
        if isinstance(index, slice):
            raise TypeError("HOIClipDataset: index with an int (use .filter() or .records for subsets)")
        return self._load(self._records[index])

    def __iter__(self) -> Iterator[HOIClip]:
        return (self._load(r) for r in self._records)

    def get(self, clip_id: str) -> HOIClip:
        """The clip with id ``clip_id``."""
        if clip_id not in self._index:
            raise KeyError(f"no clip {clip_id!r} in {self.root}")
        return self._load(self._records[self._index[clip_id]])

    def clip_path(self, index: int | str) -> Path:
        """The folder of clip ``index`` (position or id)."""
        rec = self._records[self._index[index] if isinstance(index, str) else index]
        return self.root / rec["path"]

    def filter(
        self, task: str | Collection[str] | None = None, success: bool | None = None, **fields: Any
    ) -> "HOIClipDataset":
        """The sub-dataset whose records match: ``task`` (a name or several), ``success``, and ``field=value``."""
        tasks = {task} if isinstance(task, str) else None if task is None else set(task)
        keep = [
            r
            for r in self._records
            if (tasks is None or r["task"] in tasks)
            and (success is None or r["success"] == success)
            and all(r.get(k) == v for k, v in fields.items())
        ]
        return HOIClipDataset(self.root, keep)

    def _load(self, rec: dict[str, Any]) -> HOIClip:
        folder = self.root / rec["path"]
        try:
            clip = HOIClip.load(folder)
        except (ValueError, KeyError, OSError) as exc:  # ContractError is a ValueError
            raise DatasetError(f"clip {rec['id']!r} of {self.root} could not be loaded from {folder}: {exc}") from exc
        if (clip.task, clip.seed, clip.num_frames) != (rec["task"], rec["seed"], rec["num_frames"]):
            raise DatasetError(
                f"clip {rec['id']!r} at {folder} holds task={clip.task} seed={clip.seed} T={clip.num_frames}, "
                f"the manifest says task={rec['task']} seed={rec['seed']} T={rec['num_frames']}"
            )
        return clip

    def __repr__(self) -> str:
        return f"HOIClipDataset({str(self.root)!r}, {len(self)} clips)"
