#!/usr/bin/env bash
# GPU cost of the generator's clip formats: stage-1 and stage-2 training steps of the `tiny` architecture at
# 128x16, 128x32, 256x16 and 256x32 (resolution x frames), on 16 synthetic clips per format. Read by
# bench/generator_formats.py --train-logs OUT.
#
#   bash bench/generator_formats_gpu.sh prepare CACHES    # where the package and its text encoder are installed
#   bash bench/generator_formats_gpu.sh probe CACHES OUT  # on a CUDA machine (needs the caches, not the clips)
#
# `prepare` renders the synthetic clips (sim.handsim.datagen source=synthetic) and their latent caches with the
# shipped VAE (hoi-train-generator cache_only=true). `probe` trains 30 steps per stage from those caches at batch 64
# (and 16, 32 for 256x32, whose batch of 64 does not fit in 80 GB) and writes the trainer's losses.csv as
# OUT/losses_<R>_<F>_b<B>.csv and nvidia-smi memory samples (MiB, every 0.3 s) as OUT/mem_<R>_<F>_b<B>.txt.
set -euo pipefail
PY=${PYTHON:-python3}
FORMATS="128x16 128x32 256x16 256x32"
case "${1:-}" in
  prepare)
    caches=$2; mkdir -p "$caches"
    for fmt in $FORMATS; do
      r=${fmt%x*}; f=${fmt#*x}
      $PY -m sim.handsim.datagen source=synthetic "tasks=[Lift,Push]" clips_per_task=8 resolution=$r num_frames=$f \
        workers=1 out="$caches/clips_$fmt"
      $PY -m hoi_videogen.training.trainer data="$caches/clips_$fmt" out="$caches/cache_run_$fmt" \
        init_from=hoi_videogen/weights/tiny 'init_modules=[vae]' 'stages=[ma,video]' \
        latent_cache="$caches/$fmt.safetensors" cache_only=true threads=2 generator.resolution=$r generator.num_frames=$f
    done ;;
  probe)
    caches=$2; out=$3; mkdir -p "$out"
    export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
    for fmt in $FORMATS; do
      r=${fmt%x*}; f=${fmt#*x}
      batches="64"; [ "$fmt" = 256x32 ] && batches="64 32 16"
      for b in $batches; do
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 300 > "$out/mem_${r}_${f}_b$b.txt" &
        smi=$!
        $PY -m hoi_videogen.training.trainer data="$caches/clips_$fmt" out="$out/run_${fmt}_b$b" \
          init_from=hoi_videogen/weights/tiny 'init_modules=[vae]' 'stages=[ma,video]' "steps={vae:0,ma:30,video:30}" \
          "batch_size={vae:8,ma:$b,video:$b}" latent_cache="$caches/$fmt.safetensors" generator.resolution=$r \
          generator.num_frames=$f device=cuda sample_every=0 ckpt_every=1000 log_every=5 threads=8 \
          || echo "$fmt batch $b failed (out of memory?)"
        kill $smi
        cp "$out/run_${fmt}_b$b/losses.csv" "$out/losses_${r}_${f}_b$b.csv" 2>/dev/null || true
        rm -rf "$out/run_${fmt}_b$b"
      done
    done ;;
  *) echo "usage: $0 prepare CACHES | probe CACHES OUT" >&2; exit 2 ;;
esac
