"""How far do the tracker's detections in generated clips differ from the context frame they were generated from?

    .venv/bin/python bench/background_hands.py [--task PickPlaceCan] [--seeds 0 12] [--steps 10]
        [--generator '{"name": "tiny", "path": "hoi_videogen/weights/tiny_256x32_pickplacecan"}']

For each seed the ``generated`` row's context frame goes through the generator (first generation, noise = seed). The
tracker preset ``--tracker`` (default ``lenient_nobg``: the row's tracker without the background check) tracks the
clip. For every detection, :func:`hoi_videogen.hands.tracker.changed_fraction` is taken against the context frame:
the share of its keypoints' box that differs from it by more than the preset's ``background_diff``.
HANDI-style generators keep the context pixels outside the motion area, so "hands" the tracker finds there show
(almost) no change, while a drawn hand does. The script reports a histogram and the share under the preset's
``background_min_changed`` threshold (what the background check drops), overall and per seed. It writes ``--out``
(JSON) and a PNG histogram beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GENERATOR = '{"name": "tiny", "path": "hoi_videogen/weights/tiny_256x32_pickplacecan"}'
BINS = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0001]


def histogram(fractions: list[float], threshold: float) -> dict:
    """Counts of ``fractions`` in :data:`BINS` and how many lie under ``threshold``."""
    f = np.asarray(fractions, float)
    counts, _ = np.histogram(f, bins=BINS)
    return {"bins": [round(b, 4) for b in BINS], "counts": counts.tolist(), "detections": int(len(f)),
            "under_threshold": int((f < threshold).sum()), "threshold": float(threshold)}  # fmt: skip


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = result["histogram"]
    edges = np.array(h["bins"])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", edgecolor="k", color="#7aa6c2")
    ax.axvline(h["threshold"], color="r", ls="--", label=f"background_min_changed = {h['threshold']:g}")
    ax.set_xlabel("share of the detection's box that differs from the context frame")
    ax.set_ylabel("detections in the bin (bins of unequal width)")
    ax.set_title(f"{result['task']}, seeds {result['seeds'][0]}–{result['seeds'][-1]}: "
                 f"{h['under_threshold']} of {h['detections']} under the threshold", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="PickPlaceCan")
    ap.add_argument("--seeds", type=int, nargs=2, default=[0, 12], metavar=("FIRST", "END"), help="seeds FIRST..END-1")
    ap.add_argument("--generator", default=DEFAULT_GENERATOR, help="HOI2ROBOT_GENERATOR-style JSON")
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default: the generator's own)")
    ap.add_argument("--tracker", default="lenient_nobg", help="tracker preset of configs/tracker/")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench/results/background_hands_ppc.json"))
    args = ap.parse_args(argv)
    if args.seeds[1] <= args.seeds[0]:
        ap.error(f"--seeds: END must be above FIRST, got {args.seeds}")
    os.environ.setdefault("MUJOCO_GL", "egl")
    import gymnasium as gym
    import torch
    from tqdm import tqdm

    import sim.tasks  # noqa: F401  (registers the envs)
    from hoi_videogen.generators import build_generator
    from hoi_videogen.hands import HandTracker
    from hoi_videogen.hands.tracker import HandTrackerConfig, changed_fraction
    from hoi_videogen.rows import GeneratedRowConfig, context_frame, context_size

    torch.set_num_threads(args.threads)
    gen_cfg = json.loads(args.generator)
    if args.steps is not None:
        gen_cfg["num_inference_steps"] = int(args.steps)
    cfg = GeneratedRowConfig(generator=gen_cfg, tracker=args.tracker)
    generator = build_generator(gen_cfg)
    size = context_size(cfg, generator)
    tcfg = HandTrackerConfig.preset(args.tracker)
    threshold = HandTrackerConfig.preset("lenient").background_min_changed
    env = gym.make(f"hoi2robot/{args.task}-v0")
    seeds = list(range(*args.seeds))
    fractions, per_seed = [], []
    start = time.perf_counter()
    with HandTracker(tcfg) as tracker:
        for seed in tqdm(seeds, desc="background-hands", unit="seed"):
            env.reset(seed=seed)
            frame, camera, _ = context_frame(env, args.task, seed, cfg.context, size, cfg.camera)
            video = generator.generate(frame, env.unwrapped.instruction, seed=seed, camera=camera)
            track = tracker.track(video.frames, video.fps)
            mine = [changed_fraction(video.frames[t], frame, track.keypoints_2d[t, s], tcfg.background_diff)
                    for t, s in np.argwhere(track.valid)]  # fmt: skip
            mine = [f for f in mine if f is not None]
            fractions += mine
            per_seed.append({"seed": seed, "detections": len(mine), "frames_with_hand": int(track.valid.any(1).sum()),
                             "under_threshold": int(sum(f < threshold for f in mine))})  # fmt: skip
    result = {"task": args.task, "seeds": seeds, "generator": gen_cfg, "tracker": args.tracker,
              "background_diff": tcfg.background_diff, "histogram": histogram(fractions, threshold),
              "per_seed": per_seed, "wall_seconds": time.perf_counter() - start,
              "command": " ".join(["bench/background_hands.py", *(argv if argv is not None else sys.argv[1:])])}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    plot(result, out.with_suffix(".png"))
    h = result["histogram"]
    print(f"{'share changed':>14} | detections")
    for lo, hi, n in zip(h["bins"][:-1], h["bins"][1:], h["counts"]):
        print(f"{lo:5.2f}–{min(hi, 1.0):4.2f}     | {n}")
    print(f"under {threshold:g}: {h['under_threshold']} of {h['detections']} detections; wrote {out}")
    return result


if __name__ == "__main__":
    main()
