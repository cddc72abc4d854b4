"""Does the generator's VAE keep the hand? MediaPipe on clips before and after a VAE round trip.

    .venv/bin/python bench/vae_hands.py --data DATASET [DATASET ...] [--task PickPlaceCan] [--clips 12]

For each HOIClip dataset (any resolution: the VAE is convolutional), the first ``--clips`` clips of ``--task`` go
through ``vae.encode(...).mode()`` and ``vae.decode``; the tracker preset ``--tracker`` (``configs/tracker/``) runs on
the original and the reconstructed frames. Per dataset: the fraction of frames with a hand found in each, and the
PSNR of the reconstruction. A generator cannot draw a hand its VAE cannot decode, so this bounds stage 2 from above.
Prints a table and writes ``--out`` (default ``bench/results/vae_hands.json``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def round_trip(pipe, video: np.ndarray) -> np.ndarray:
    """T×H×W×3 uint8 frames through the pipeline's VAE (``encode_frames``: posterior mode; ``decode_latents``), back
    as uint8."""
    import torch

    x = torch.from_numpy(video).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    with torch.no_grad():
        y = pipe.decode_latents(pipe.encode_frames(x))
    return ((y + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", required=True, help="HOIClip dataset folders")
    ap.add_argument("--weights", default=None, help="pipeline folder whose VAE is used (default: the shipped tiny)")
    ap.add_argument("--task", default="PickPlaceCan")
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--tracker", default="lenient", help="tracker preset of configs/tracker/")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vae_hands.json")
    args = ap.parse_args(argv)
    if args.clips < 1:
        ap.error("--clips must be >= 1")

    import torch

    from hoi2robot.config import machine_info, write_json
    from hoi_videogen.data import HOIClipDataset
    from hoi_videogen.hands import HandTracker
    from hoi_videogen.hands.tracker import HandTrackerConfig
    from hoi_videogen.pipeline import TINY_WEIGHTS, load_pipeline

    torch.set_num_threads(args.threads)
    weights = Path(args.weights) if args.weights else TINY_WEIGHTS
    pipe = load_pipeline(weights)
    tracker = HandTracker(HandTrackerConfig.preset(args.tracker))
    rows = []
    for data in args.data:
        ds = HOIClipDataset(data)
        picks = [i for i, r in enumerate(ds.records) if r["task"] == args.task][: args.clips]
        if not picks:
            raise ValueError(f"{data} has no {args.task} clips")
        found_gt, found_vae, psnr = [], [], []
        for i in picks:
            clip = ds[i]
            rec = round_trip(pipe, clip.video)
            found_gt.append(float(tracker.track(clip.video, clip.fps).valid.any(1).mean()))
            found_vae.append(float(tracker.track(rec, clip.fps).valid.any(1).mean()))
            mse = float(((rec.astype(np.float64) - clip.video) ** 2).mean())
            psnr.append(10 * np.log10(255.0**2 / max(mse, 1e-10)))
        rows.append({"data": str(data), "resolution": int(clip.video.shape[1]), "num_frames": int(clip.video.shape[0]),
                     "clips": len(picks), "hand_found_original": float(np.mean(found_gt)),
                     "hand_found_vae": float(np.mean(found_vae)), "psnr": float(np.mean(psnr))})  # fmt: skip
        print(f"{data} done", file=sys.stderr, flush=True)
    print(f"\n{'dataset':>40} | {'format':>7} | clips | hand found: original | after VAE | PSNR dB")
    for r in rows:
        print(f"{r['data']:>40} | {r['resolution']}x{r['num_frames']:<3} | {r['clips']:>5} | "
              f"{100 * r['hand_found_original']:>19.0f}% | {100 * r['hand_found_vae']:>8.0f}% | {r['psnr']:.1f}")
    result = {"command": " ".join(["python", "bench/vae_hands.py", *(argv if argv is not None else sys.argv[1:])]),
              "weights": str(weights), "task": args.task, "tracker": args.tracker, "machine": machine_info(),
              "datasets": rows}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
