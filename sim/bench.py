"""``hoi-bench``: benchmark rows × tasks × seeds → a success table, a JSON record and a rollout video per row and task.

A *row* is what drives the robot (DESIGN.md, "Benchmark rows"): ``expert`` (the scripted controller) now; the
hand-video rows register themselves here as they land. A row is a function ``(env, task, seed, record) -> dict``
that runs one episode on a :func:`sim.tasks.make_env` environment and returns at least ``success`` and ``steps``;
``record`` is a list to append rendered frames to (or None).

Episodes run in worker processes (spawned: MuJoCo's GL contexts do not survive a fork), one env per work item.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import hydra
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from hoi2robot.config import (CONFIG_PATH, hoi2robot_env, machine_info, run_dir, share_cores, to_plain,
                              worker_pool, write_json)

log = logging.getLogger(__name__)

RowFn = Callable[[Any, str, int, "list[np.ndarray] | None"], dict]
ROWS: dict[str, RowFn] = {}


def register_row(name: str) -> Callable[[RowFn], RowFn]:
    """Decorator: make a benchmark row available to ``hoi-bench rows=[name]``."""

    def deco(fn: RowFn) -> RowFn:
        ROWS[name] = fn
        return fn

    return deco


def takes_attempt(fn: RowFn) -> bool:
    """Whether row ``fn`` draws randomness beyond its seed and takes ``attempt=k`` (k = 0, 1, ...: another draw on
    the same scene, e.g. a video generator's noise; attempt 0 is the row's plain result). Such rows are what
    ``hoi-collect-demos attempts=K`` retries; a row without it would only repeat itself."""
    import inspect

    try:
        return "attempt" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins / C callables without a signature
        return False


# Modules whose import registers more rows (the hand-video and policy rows live with their stage). A module that is
# not there yet is skipped; any other import error is raised.
ROW_MODULES: tuple[str, ...] = ("policy.retarget.rows", "hoi_videogen.rows", "policy.rows")


def load_rows() -> dict[str, RowFn]:
    """Import every module of :data:`ROW_MODULES` that exists, so its rows are registered; return :data:`ROWS`."""
    import importlib

    for name in ROW_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
    return ROWS


@register_row("expert")
def expert_row(env: Any, task: str, seed: int, record: list | None) -> dict:
    """The scripted OSC expert: isolates the controller and the task."""
    from sim.experts import make_expert, run_episode

    return run_episode(env, make_expert(task), seed=seed, record=record)


@dataclass
class Episode:
    row: str
    task: str
    seed: int
    success: bool
    steps: int
    seconds: float


@dataclass(frozen=True)
class WorkItem:
    row: str
    task: str
    seeds: tuple[int, ...]
    video_seed: int | None  # record this seed's rollout
    video_size: tuple[int, int]  # H, W of the recorded agentview frames


def _run_item(item: WorkItem) -> tuple[list[Episode], np.ndarray | None]:
    """Worker: build one env, run the item's seeds, return the episodes (and the recorded frames, if any)."""
    from sim.tasks import make_env

    load_rows()
    env = make_env(item.task, render_mode="rgb_array", image_size=item.video_size)
    episodes, video = [], None
    try:
        for seed in item.seeds:
            record = [] if seed == item.video_seed else None
            t0 = time.perf_counter()
            out = ROWS[item.row](env, item.task, seed, record)
            seconds = time.perf_counter() - t0
            episodes.append(Episode(item.row, item.task, seed, bool(out["success"]), int(out["steps"]), seconds))
            if record:
                video = np.stack(record)
    finally:
        env.close()
    return episodes, video


def plan(cfg: DictConfig) -> list[WorkItem]:
    """Split rows × tasks × seeds into work items of ``cfg.chunk`` seeds; validate names first."""
    from sim.tasks import TASKS

    unknown_rows = [r for r in cfg.rows if r not in load_rows()]
    if unknown_rows:
        raise ValueError(f"unknown benchmark row(s) {unknown_rows}; available: {sorted(ROWS)}")
    unknown_tasks = [t for t in cfg.tasks if t not in TASKS]
    if unknown_tasks:
        raise ValueError(f"unknown task(s) {unknown_tasks}; available: {sorted(TASKS)}")
    if cfg.seeds < 1 or cfg.chunk < 1 or cfg.workers < 1:
        raise ValueError("seeds, chunk and workers must be >= 1")
    seeds = list(range(cfg.seed_offset, cfg.seed_offset + cfg.seeds))
    items = []
    for row in cfg.rows:
        for task in cfg.tasks:
            for i in range(0, len(seeds), cfg.chunk):
                chunk = tuple(seeds[i : i + cfg.chunk])
                video_seed = seeds[0] if cfg.video and i == 0 else None
                items.append(WorkItem(row, task, chunk, video_seed, tuple(cfg.video_size)))
    return items


def summarize(episodes: list[Episode]) -> dict[str, dict[str, dict[str, float]]]:
    """row -> task -> success rate, episode count, mean steps, mean seconds per episode."""
    groups: dict[tuple[str, str], list[Episode]] = defaultdict(list)
    for e in episodes:
        groups[(e.row, e.task)].append(e)
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (row, task), eps in groups.items():
        out[row][task] = {
            "success_rate": float(np.mean([e.success for e in eps])),
            "episodes": len(eps),
            "mean_steps": float(np.mean([e.steps for e in eps])),
            "sec_per_episode": float(np.mean([e.seconds for e in eps])),
        }
    return dict(out)


def format_table(summary: dict[str, dict[str, dict[str, float]]], tasks: list[str]) -> str:
    """Markdown table: one line per row, success % (episodes) per task."""
    lines = ["| row | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for row, per_task in summary.items():
        cells = []
        for task in tasks:
            s = per_task.get(task)
            cells.append("–" if s is None else f"{100 * s['success_rate']:.0f}% ({s['episodes']})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run the benchmark described by ``cfg``; write videos to ``out_dir`` and the JSON to ``cfg.results_dir``."""
    from hoi2robot.media import write_video

    items = plan(cfg)
    episodes: list[Episode] = []
    videos: dict[str, dict[str, str]] = defaultdict(dict)
    t0 = time.perf_counter()
    total = sum(len(i.seeds) for i in items)
    with tqdm(total=total, desc="hoi-bench", unit="ep") as bar:

        def collect(item: WorkItem, result: tuple[list[Episode], np.ndarray | None]) -> None:
            eps, video = result
            episodes.extend(eps)
            if video is not None:
                path = write_video(out_dir / f"{item.row}_{item.task}_seed{item.video_seed}.mp4", video, fps=20)
                videos[item.row][item.task] = str(path)
            bar.update(len(eps))
            bar.set_postfix(success=f"{np.mean([e.success for e in episodes]):.0%}")

        if cfg.workers == 1:
            for item in items:
                collect(item, _run_item(item))
        else:
            with worker_pool(cfg.workers, initializer=share_cores, initargs=(cfg.workers,)) as pool:
                futures = {pool.submit(_run_item, item): item for item in items}
                for fut in as_completed(futures):
                    collect(futures[fut], fut.result())
    episodes.sort(key=lambda e: (e.row, e.task, e.seed))
    summary = summarize(episodes)
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_seconds": time.perf_counter() - t0,
        "config": to_plain(cfg),
        "env": hoi2robot_env(),
        "machine": machine_info(),
        "summary": summary,
        "videos": dict(videos),
        "episodes": [asdict(e) for e in episodes],
    }
    record["json"] = str(write_json(Path(cfg.results_dir) / f"{cfg.name}.json", record))
    return record


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="bench")
def main(cfg: DictConfig) -> None:
    out_dir = run_dir()
    record = run(cfg, out_dir)
    print(format_table(record["summary"], list(cfg.tasks)))
    print(f"results: {record['json']}")
    for row, per_task in record["videos"].items():
        for task, path in per_task.items():
            print(f"video {row}/{task}: {path}")


if __name__ == "__main__":
    main()
