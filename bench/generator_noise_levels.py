"""Where along the noise schedule the stage-2 video denoiser is good: ε-MSE inside the motion area per timestep.

For each held-out clip and timestep t, the clip's frame latents are noised to x_t and the denoiser's ε prediction
(converted from v for a v-prediction denoiser) is compared with the true noise, inside the (GT) motion area. The
reference is the "static" predictor that assumes every frame equals the context frame:
ε̂ = (x_t − √ᾱ_t·context)/√(1 − ᾱ_t). A denoiser that loses to it at high t has not learned to start a sample from
pure noise, and its samples are blobs even when its low-t denoising is good.

    python bench/generator_noise_levels.py --data data/hoiclips_128_eval [--weights DIR] [--out JSON]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
TIMESTEPS = (100, 300, 500, 700, 900, 980)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="pipeline folder (default: the shipped hoi_videogen/weights/tiny)")
    ap.add_argument("--data", default="data/hoiclips_128_eval", help="HOIClip dataset with held-out seeds")
    ap.add_argument("--timesteps", type=int, nargs="+", default=list(TIMESTEPS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "generator_noise_levels.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from hoi2robot.config import machine_info, write_json
    from hoi_videogen.data import HOIClipDataset
    from hoi_videogen.pipeline import TINY_WEIGHTS, load_pipeline
    from hoi_videogen.training.losses import predicted_eps

    weights = Path(args.weights) if args.weights else TINY_WEIGHTS
    pipe = load_pipeline(weights)
    den = pipe.video_denoiser
    ab = pipe.scheduler.alphas_cumprod
    ds = HOIClipDataset(args.data)
    g = torch.Generator().manual_seed(0)
    res: dict[int, list[tuple[float, float]]] = {int(t): [] for t in args.timesteps}
    with torch.no_grad():
        for i in range(len(ds)):
            clip = ds[i]
            x = torch.from_numpy(np.concatenate([clip.context[None], clip.video])).permute(0, 3, 1, 2)
            z = pipe.encode_frames(x.float() / 127.5 - 1)
            ctx, frames = z[:1], z[1:][None]
            x0 = den.to_target(frames, ctx)
            ma = F.interpolate(torch.from_numpy(clip.ma_mask)[None, None].float(), size=z.shape[-2:], mode="area")
            inside = ma[0, 0] > 0.05
            tokens, pooled = pipe.encode_text([clip.instruction])
            for t in res:
                a = ab[t]
                eps = torch.randn(x0.shape, generator=g)
                x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
                pred = predicted_eps(x_t, den(x_t, torch.tensor(t), ctx, ma, tokens, pooled), a, den.prediction_type)
                static = (x_t - a.sqrt() * den.to_target(ctx[:, None].expand_as(frames), ctx)) / (1 - a).sqrt()
                mse = lambda p: float(((p - eps) ** 2)[..., inside].mean())  # noqa: E731
                res[t].append((mse(pred), mse(static)))
    table = {str(t): {"model": float(np.mean([m for m, _ in v])), "static": float(np.mean([s for _, s in v]))}
             for t, v in res.items()}
    print(f"{'t':>5} | {'model eps-MSE':>13} | {'static eps-MSE':>14}")
    for t, row in table.items():
        print(f"{t:>5} | {row['model']:13.4f} | {row['static']:14.4f}")
    payload = {
        "what": "stage-2 ε-MSE inside the GT motion area per timestep vs the copy-the-context predictor",
        "command": "python bench/generator_noise_levels.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "weights": str(weights),
        "residual": bool(den.config.get("residual", False)),
        "prediction_type": den.prediction_type,
        "data": str(args.data),
        "clips": len(ds),
        "eps_mse": table,
        "machine": machine_info(),
    }
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return payload


if __name__ == "__main__":
    main()
