#!/usr/bin/env bash
# The medium scale (model families sized for one GPU) for one claim per paper, on the GPU of this machine, with the
# figures recorded: per claim its wall time, the verdict line of `arx review` and the GPU. Not part of CI (CI has no
# GPU); run it when a GPU machine is available, then commit build/medium/figures.tsv's numbers into the closing note.
#
#   scripts/medium_on_one_gpu.sh [CLAIM ...]      # default: one claim per paper (below)
#
# Needs: the README's set-up commands, a CUDA build of torch (`pip install torch` without the CPU pin) and
# `nvidia-smi`. Each claim runs at seed 0 (`--config seeds=[0]`); its upstream zoo models train first.
set -euo pipefail
cd "$(dirname "$0")/.."
claims=("$@")
if [ ${#claims[@]} -eq 0 ]; then
  claims=(depn_reduces_exposure lotaqaf_lossless_merge exposure_grows_with_repetition moe_blocking_beats_random
          routing_isolation)
fi
python - <<'PY' || { echo "medium_on_one_gpu: torch sees no CUDA device; install a CUDA build of torch on a GPU machine" >&2; exit 3; }
import torch, sys
sys.exit(0 if torch.cuda.is_available() else 1)
PY
out=build/medium
mkdir -p "$out"
gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)
printf 'claim\twall_s\texit\tgpu\tverdict\n' > "$out/figures.tsv"
for claim in "${claims[@]}"; do
  echo "== $claim (medium, seed 0) on $gpu"
  start=$(date +%s)
  set +e
  snakemake --cores "$(nproc)" --config scale=medium 'seeds=[0]' -- "reproduce_claim_$claim" > "$out/$claim.log" 2>&1
  code=$?
  set -e
  wall=$(( $(date +%s) - start ))
  verdict=$(arx review --scale medium --claim "$claim" --allow-missing 2>/dev/null | awk -v c="$claim" '$1 == c' | tr -s ' ' | cut -c1-300)
  printf '%s\t%s\t%s\t%s\t%s\n' "$claim" "$wall" "$code" "$gpu" "$verdict" >> "$out/figures.tsv"
  echo "   $wall s, exit $code: $verdict"
done
echo "figures: $out/figures.tsv (logs next to it)"
