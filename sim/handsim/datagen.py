"""``hoi-datagen``: produce HOIClips for tasks × seeds into a dataset folder, resumably; optionally validate them.

A *source* makes one clip: a function ``(task, seed, cfg) -> HOIClip`` registered with :func:`register_source`.
``engine`` (the synthetic HOI engine, :mod:`sim.handsim.engine`) is the real one; ``synthetic``
(:mod:`sim.handsim.synthetic`) is a cheap stand-in for tests. Sources are imported lazily by module name
(:data:`SOURCE_MODULES`), also inside the worker processes, so a source module must register itself on import.

Who writes what: work items (one clip each) run in spawned worker processes (MuJoCo's GL contexts do not survive a
fork) and return their HOIClip; only the main process writes, through one
:class:`~hoi_videogen.data.DatasetWriter` (clip folder renamed into place, then its manifest line appended). So no
two processes ever write the dataset, and a killed run leaves no half clip (see :mod:`hoi_videogen.data.dataset`
for the repair on reopen). Resume: a rerun skips clip ids already in the manifest (``<task>_<seed:06d>``); failed
clips are listed in the report and retried by the next run.

Outputs: ``<out>/datagen_report.json`` (per task: clips, written, skipped, failed, success rate; timings), a printed
table, and with ``validate``/``validate_only`` the MediaPipe-vs-GT report of :mod:`hoi_videogen.data.validate`.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import time
import traceback
from collections import Counter
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import hydra
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from hoi2robot.config import CONFIG_PATH, machine_info, to_plain, worker_pool, write_json
from hoi2robot.contracts import HOIClip

log = logging.getLogger(__name__)

SourceFn = Callable[[str, int, DictConfig], HOIClip]
SOURCES: dict[str, SourceFn] = {}
# Where each source lives: imported on first use (in every worker process too), registering the source.
SOURCE_MODULES: dict[str, str] = {
    "engine": "sim.handsim.engine",
    "synthetic": "sim.handsim.synthetic",
}
REPORT = "datagen_report.json"


def register_source(name: str) -> Callable[[SourceFn], SourceFn]:
    """Decorator: make ``fn(task, seed, cfg) -> HOIClip`` available as ``hoi-datagen source=<name>``.

    The clip must be for ``task`` and ``seed``, rendered by camera ``cfg.camera`` at ``cfg.resolution`` ² pixels
    with ``cfg.num_frames`` frames at ``cfg.fps`` (checked by :func:`check_clip`). The same seed must give the
    same clip. Put the function in a module listed in :data:`SOURCE_MODULES` so worker processes find it.
    """

    def deco(fn: SourceFn) -> SourceFn:
        SOURCES[name] = fn
        return fn

    return deco


def get_source(name: str) -> SourceFn:
    """The source registered as ``name``, importing its module first if needed."""
    if name not in SOURCES and name in SOURCE_MODULES:
        module = SOURCE_MODULES[name]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            raise ValueError(
                f"clip source {name!r} lives in {module}, which is not available ({exc}); "
                f"available now: {sorted(set(SOURCES) | set(_importable()))}"
            ) from None
    if name not in SOURCES:
        raise ValueError(f"unknown clip source {name!r}; known: {sorted(set(SOURCES) | set(SOURCE_MODULES))}")
    return SOURCES[name]


def _importable() -> list[str]:
    return [n for n, m in SOURCE_MODULES.items() if importlib.util.find_spec(m) is not None]


def clip_id(task: str, seed: int) -> str:
    """The dataset id of the clip of ``task`` and ``seed``, e.g. ``Lift_000042``."""
    return f"{task}_{seed:06d}"


# ----------------------------------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class WorkItem:
    task: str
    seed: int

    @property
    def clip_id(self) -> str:
        return clip_id(self.task, self.seed)


def check_config(cfg: DictConfig) -> None:
    """Reject bad settings early, naming them."""
    from sim.tasks import CAMERAS, TASKS

    unknown = [t for t in cfg.tasks if t not in TASKS]
    if unknown or not cfg.tasks:
        raise ValueError(f"unknown or no task(s) {list(unknown)}; available: {sorted(TASKS)}")
    if cfg.camera not in CAMERAS:
        raise ValueError(f"unknown camera {cfg.camera!r}; available: {list(CAMERAS)}")
    for key in ("clips_per_task", "resolution", "num_frames", "workers"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if not isinstance(cfg.seed_offset, int) or cfg.seed_offset < 0:
        raise ValueError(f"seed_offset must be a non-negative integer, got {cfg.seed_offset!r}")
    if not cfg.fps > 0:
        raise ValueError(f"fps must be positive, got {cfg.fps!r}")


def plan(cfg: DictConfig, done: set[str]) -> tuple[list[WorkItem], list[WorkItem]]:
    """All tasks × seeds of ``cfg``, split into (to do, already in the dataset)."""
    seeds = range(cfg.seed_offset, cfg.seed_offset + cfg.clips_per_task)
    items = [WorkItem(task, seed) for task in cfg.tasks for seed in seeds]
    return [i for i in items if i.clip_id not in done], [i for i in items if i.clip_id in done]


def dataset_info(cfg: DictConfig) -> dict[str, Any]:
    """What all clips of one dataset share; a rerun into the same ``out`` must agree (see DatasetWriter)."""
    return {k: to_plain(cfg)[k] for k in ("source", "camera", "resolution", "num_frames", "fps")}


# ------------------------------------------------------------------------------------------------------- workers
def check_clip(clip: Any, item: WorkItem, cfg: DictConfig) -> HOIClip:
    """Raise ValueError unless ``clip`` is the HOIClip that was asked for (task, seed, camera, size, frames, fps)."""
    if not isinstance(clip, HOIClip):
        raise ValueError(f"source {cfg.source!r} returned {type(clip).__name__} for {item.clip_id}, not an HOIClip")
    want = {
        "task": item.task,
        "seed": item.seed,
        "camera": cfg.camera,
        "size": (cfg.resolution, cfg.resolution),
        "num_frames": cfg.num_frames,
        "fps": float(cfg.fps),
    }
    got = {
        "task": clip.task,
        "seed": clip.seed,
        "camera": clip.camera.name,
        "size": tuple(clip.video.shape[1:3]),
        "num_frames": clip.num_frames,
        "fps": clip.fps,
    }
    bad = [f"{k}={got[k]!r} (asked {want[k]!r})" for k in want if got[k] != want[k]]
    if bad:
        raise ValueError(f"source {cfg.source!r} returned a wrong clip for {item.clip_id}: {', '.join(bad)}")
    return clip


def produce(item: WorkItem, cfg: DictConfig) -> tuple[HOIClip, float]:
    """Worker: make, check and label one clip; return it with the seconds the source took."""
    from hoi_videogen.data.instructions import paraphrases

    source = get_source(cfg.source)
    t0 = time.perf_counter()
    clip = source(item.task, item.seed, cfg)
    seconds = time.perf_counter() - t0
    check_clip(clip, item, cfg)
    if not clip.paraphrases:
        clip.paraphrases = [p for p in paraphrases(item.task) if p != clip.instruction]
    clip.meta.setdefault("source", cfg.source)
    return clip, seconds


# ---------------------------------------------------------------------------------------------------------- run
def generate(cfg: DictConfig) -> dict[str, Any]:
    """Produce the clips of ``cfg`` that ``cfg.out`` lacks; write ``datagen_report.json``; return the report."""
    from hoi_videogen.data import DatasetWriter

    check_config(cfg)
    get_source(cfg.source)  # fail here, not in every worker
    out = Path(cfg.out)
    written: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    produce_s, write_s = [], []
    t0 = time.perf_counter()
    with DatasetWriter(out, info=dataset_info(cfg)) as writer:
        todo, skipped = plan(cfg, writer.done_ids())
        if skipped:
            log.info("resuming: %d of %d clips already in %s", len(skipped), len(todo) + len(skipped), out)
        bar = tqdm(total=len(todo), desc="hoi-datagen", unit="clip")

        def collect(item: WorkItem, result: Callable[[], tuple[HOIClip, float]]) -> None:
            try:
                clip, seconds = result()
            except Exception as exc:
                log.error("clip %s failed:\n%s", item.clip_id, "".join(traceback.format_exception(exc)))
                failed.append({"id": item.clip_id, "error": f"{type(exc).__name__}: {exc}"})
            else:
                t1 = time.perf_counter()
                written.append(writer.add(clip, item.clip_id))
                write_s.append(time.perf_counter() - t1)
                produce_s.append(seconds)
            bar.update(1)
            rate = 60.0 * len(written) / max(time.perf_counter() - t0, 1e-9)
            success = f"{np.mean([r['success'] for r in written]):.0%}" if written else "–"
            bar.set_postfix_str(f"{rate:.1f} clips/min, success {success}, failed {len(failed)}")

        try:
            if cfg.workers == 1 or len(todo) <= 1:
                for item in todo:
                    collect(item, lambda item=item: produce(item, cfg))
            else:
                pool = worker_pool(min(cfg.workers, len(todo)))
                try:
                    futures = {pool.submit(produce, item, cfg): item for item in todo}
                    for fut in as_completed(futures):
                        collect(futures[fut], fut.result)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
        finally:
            bar.close()
        records, recovered = writer.records, writer.recovered
    wall = time.perf_counter() - t0
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "dataset": str(out.resolve()),
        "config": to_plain(cfg),
        "machine": machine_info(),
        "recovered": recovered,
        "run": {
            "planned": len(todo) + len(skipped),
            "skipped": len(skipped),
            "written": len(written),
            "failed": failed,
            "wall_s": wall,
            "clips_per_min": 60.0 * len(written) / wall if written else 0.0,
            "produce_s_mean": float(np.mean(produce_s)) if produce_s else None,
            "write_s_mean": float(np.mean(write_s)) if write_s else None,
        },
        "per_task": summarize(cfg.tasks, records, written, skipped, failed),
    }
    report["json"] = str(write_json(out / REPORT, report))
    return report


def summarize(
    tasks: list[str],
    records: list[dict[str, Any]],
    written: list[dict[str, Any]],
    skipped: list[WorkItem],
    failed: list[dict[str, str]],
) -> dict[str, dict[str, Any]]:
    """Per task: clips in the dataset, written / skipped / failed by this run, success rate over the dataset."""
    new = Counter(r["task"] for r in written)
    old = Counter(i.task for i in skipped)
    bad = Counter(f["id"].rsplit("_", 1)[0] for f in failed)
    out = {}
    for task in tasks:
        ok = [r["success"] for r in records if r["task"] == task]
        out[task] = {
            "clips": len(ok),
            "written": new[task],
            "skipped": old[task],
            "failed": bad[task],
            "success_rate": float(np.mean(ok)) if ok else None,
        }
    return out


def format_table(report: dict[str, Any]) -> str:
    """Markdown table of a :func:`generate` report, and a line of run totals."""
    lines = ["| task | clips | written | skipped | failed | success |", "|---|---|---|---|---|---|"]
    for task, s in report["per_task"].items():
        rate = "–" if s["success_rate"] is None else f"{100 * s['success_rate']:.0f}%"
        lines.append(f"| {task} | {s['clips']} | {s['written']} | {s['skipped']} | {s['failed']} | {rate} |")
    run = report["run"]
    lines.append(
        f"wrote {run['written']} clips in {run['wall_s']:.1f} s ({run['clips_per_min']:.1f} clips/min), "
        f"skipped {run['skipped']}, failed {len(run['failed'])} -> {report['dataset']}"
    )
    return "\n".join(lines)


def validate(cfg: DictConfig) -> dict[str, Any]:
    """Run :func:`hoi_videogen.data.validate.validate_dataset` on ``cfg.out`` with ``cfg.tracker``."""
    from hoi_videogen.data.validate import validate_dataset

    v = cfg.validation
    return validate_dataset(
        cfg.out,
        tracker=to_plain(cfg.tracker),
        min_visible=v.min_visible,
        worst=v.worst,
        tile_px=v.tile_px,
        max_clips=v.max_clips,
        workers=cfg.workers,
        target_detection_rate=v.get("target_detection_rate", 0.95),
        target_error_px_256=v.get("target_error_px_256", 5.0),
    )


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="datagen")
def main(cfg: DictConfig) -> None:
    from hoi_videogen.data.validate import format_table as format_validation

    failed = []
    if not cfg.validate_only:
        report = generate(cfg)
        print(format_table(report))
        print(f"report: {report['json']}")
        failed = report["run"]["failed"]
    if cfg.validate or cfg.validate_only:
        vreport = validate(cfg)
        print(format_validation(vreport))
        print(f"validation: {vreport['json']}  worst cases: {vreport['worst_png']}")
    if failed:
        raise RuntimeError(f"{len(failed)} clip(s) failed (see the log and the report); rerun to retry them")


if __name__ == "__main__":
    # Run the importable module's main, so sources register into the registry the workers and main() use.
    from sim.handsim import datagen

    datagen.main()
