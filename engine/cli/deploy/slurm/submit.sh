#!/usr/bin/env bash
# Submits a sweep as an N-task Slurm array plus a merge job that runs when
# every task succeeded:
#
#   engine/cli/deploy/slurm/submit.sh N SWEEP.toml OUT [extra sbatch options...]
#
# Writes OUT/shard-1 .. OUT/shard-N, then OUT/merged/runs.parquet (the same
# table, byte for byte, as one unsharded `ticktape sweep`). Prints the job ids.
# Environment: TICKTAPE (the binary; default `ticktape` on PATH).
set -euo pipefail

n=${1:?usage: submit.sh N SWEEP.toml OUT [sbatch options...]}
sweep=${2:?usage: submit.sh N SWEEP.toml OUT [sbatch options...]}
out=${3:?usage: submit.sh N SWEEP.toml OUT [sbatch options...]}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
ticktape=${TICKTAPE:-ticktape}
mkdir -p "$out"

array=$(sbatch --parsable --array="1-$n" --output="$out/sweep-%A_%a.log" "$@" \
  "$here/sweep-array.sh" "$sweep" "$out")
shards=$(for i in $(seq 1 "$n"); do printf '%q ' "$out/shard-$i"; done)
merge=$(sbatch --parsable --dependency="afterok:$array" --job-name=ticktape-merge \
  --output="$out/merge-%j.log" "$@" \
  --wrap="$(printf '%q' "$ticktape") merge $shards -o $(printf '%q' "$out/merged")")
echo "array job $array ($n tasks), merge job $merge"
