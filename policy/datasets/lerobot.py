"""Export a demo HDF5 file to the LeRobotDataset v2 layout::

    <out>/meta/info.json         codebase_version, fps, features (dtype, shape, names), paths, totals, splits
    <out>/meta/episodes.jsonl    {"episode_index", "tasks", "length"} per episode
    <out>/meta/tasks.jsonl       {"task_index", "task"}
    <out>/meta/stats.json        per feature: mean, std, min, max
    <out>/data/chunk-000/episode_000000.parquet   columns: observation.state, action, timestamp, frame_index,
                                                  episode_index, index, task_index, next.reward, next.done
    <out>/videos/chunk-000/observation.images.<cam>/episode_000000.mp4   (if the demos hold camera images)

Parquet needs ``pyarrow``. Without it (this project does not pin it) the same columns are written as
``episode_XXXXXX.npz`` next to where the parquet file would go, ``info.json`` says ``"data_format": "npz"``, and
:func:`export_lerobot` reports ``parquet=False``: everything else is the LeRobot layout.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from policy.datasets.hdf5 import DemoFile, flat_obs

log = logging.getLogger(__name__)

__all__ = ["CODEBASE_VERSION", "export_lerobot", "have_pyarrow"]

CODEBASE_VERSION = "v2.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"


def have_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _stats(x: np.ndarray) -> dict[str, list]:
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return {"mean": x.mean(0).tolist(), "std": x.std(0).tolist(), "min": x.min(0).tolist(), "max": x.max(0).tolist()}


def _write_table(path: Path, columns: dict[str, np.ndarray], parquet: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if parquet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = {k: pa.array(list(v)) if v.ndim > 1 else pa.array(v) for k, v in columns.items()}
        pq.write_table(pa.table(arrays), path)
        return path
    path = path.with_suffix(".npz")
    np.savez(path, **columns)
    return path


def export_lerobot(
    hdf5_path: str | Path,
    out: str | Path,
    state_keys: Sequence[str] | None = None,
    fps: int = 20,
    robot_type: str = "panda",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the LeRobotDataset layout of ``hdf5_path`` to ``out`` (built in a temp folder, renamed into place).

    Args:
        state_keys: low-dim keys concatenated into ``observation.state`` (default: the file's ``lowdim_keys``).
    Returns:
        {"root", "episodes", "frames", "parquet" (bool), "videos" (count)}.
    """
    from hoi2robot.media import write_video

    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True to replace it")
    parquet = have_pyarrow()
    if not parquet:
        log.warning("pyarrow is not installed: LeRobot episode tables are written as .npz instead of .parquet")
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "meta").mkdir(parents=True)
    with DemoFile(hdf5_path) as f:
        env_args = f.env_args
        keys = list(state_keys or env_args.get("lowdim_keys") or [])
        names = f.demo_names()
        if not keys:
            keys = [k for k in f.obs_keys(names[0]) if not k.endswith(("_image", "_depth"))]
        image_keys = [k for k in f.obs_keys(names[0]) if k.endswith("_image")]
        task_text = env_args.get("instruction") or env_args.get("task", "")
        episodes, all_state, all_action, all_reward = [], [], [], []
        index, n_videos, state_dim, action_dim, img_shapes = 0, 0, 0, 0, {}
        for ep, name in enumerate(names):
            demo = f.demo(name)
            T = len(demo)
            state = flat_obs(demo.obs, keys)
            state_dim, action_dim = state.shape[1], demo.actions.shape[1]
            chunk = ep // CHUNKS_SIZE
            columns = {
                "observation.state": state.astype(np.float32),
                "action": demo.actions.astype(np.float32),
                "timestamp": (np.arange(T) / fps).astype(np.float32),
                "frame_index": np.arange(T, dtype=np.int64),
                "episode_index": np.full(T, ep, np.int64),
                "index": np.arange(index, index + T, dtype=np.int64),
                "task_index": np.zeros(T, np.int64),
                "next.reward": demo.rewards.astype(np.float32),
                "next.done": demo.dones.astype(bool),
            }
            _write_table(tmp / DATA_PATH.format(episode_chunk=chunk, episode_index=ep), columns, parquet)
            for k in image_keys:
                vkey = f"observation.images.{k[: -len('_image')]}"
                img_shapes[vkey] = list(demo.obs[k].shape[1:])
                write_video(tmp / VIDEO_PATH.format(episode_chunk=chunk, video_key=vkey, episode_index=ep),
                            demo.obs[k], fps=fps)
                n_videos += 1
            episodes.append({"episode_index": ep, "tasks": [task_text], "length": T,
                             "source": demo.source, "success": demo.success, "seed": demo.seed})
            all_state.append(state)
            all_action.append(demo.actions)
            all_reward.append(demo.rewards)
            index += T
    n_ep = len(episodes)
    features: dict[str, Any] = {
        "observation.state": {"dtype": "float32", "shape": [state_dim], "names": {"keys": keys}},
        "action": {"dtype": "float32", "shape": [action_dim],
                   "names": ["dx", "dy", "dz", "drx", "dry", "drz", "gripper"][:action_dim]},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
        "next.reward": {"dtype": "float32", "shape": [1], "names": None},
        "next.done": {"dtype": "bool", "shape": [1], "names": None},
    }
    for vkey, shape in img_shapes.items():
        features[vkey] = {"dtype": "video", "shape": shape, "names": ["height", "width", "channels"],
                          "info": {"video.fps": fps, "video.codec": "h264", "video.pix_fmt": "yuv420p"}}
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": n_ep,
        "total_frames": index,
        "total_tasks": 1,
        "total_videos": n_videos,
        "total_chunks": (n_ep - 1) // CHUNKS_SIZE + 1,
        "chunks_size": CHUNKS_SIZE,
        "fps": fps,
        "splits": {"train": f"0:{n_ep}"},
        "data_path": DATA_PATH if parquet else DATA_PATH.replace(".parquet", ".npz"),
        "video_path": VIDEO_PATH if n_videos else None,
        "data_format": "parquet" if parquet else "npz",
        "features": features,
        "source_hdf5": str(hdf5_path),
        "env_args": env_args,
    }
    stats = {
        "observation.state": _stats(np.concatenate(all_state)),
        "action": _stats(np.concatenate(all_action)),
        "next.reward": _stats(np.concatenate(all_reward)[:, None]),
    }
    (tmp / "meta" / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    (tmp / "meta" / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    (tmp / "meta" / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    (tmp / "meta" / "tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": task_text}) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return {"root": str(out), "episodes": n_ep, "frames": index, "parquet": parquet, "videos": n_videos}


def main(argv: Sequence[str] | None = None) -> None:
    """``hoi-export-lerobot DEMOS.hdf5 OUT_DIR [--overwrite] [--fps 20]``."""
    import argparse

    ap = argparse.ArgumentParser(description="Export a robomimic-style demo HDF5 file to the LeRobotDataset layout")
    ap.add_argument("hdf5")
    ap.add_argument("out")
    ap.add_argument("--fps", type=int, default=20)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    res = export_lerobot(args.hdf5, args.out, fps=args.fps, overwrite=args.overwrite)
    print(f"{res['episodes']} episodes, {res['frames']} frames, {res['videos']} videos -> {res['root']}"
          + ("" if res["parquet"] else " (pyarrow missing: episode tables written as .npz)"))


if __name__ == "__main__":
    main()
