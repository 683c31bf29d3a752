#!/usr/bin/env bash
# A ticktape sweep as a Slurm job array: task i of N runs shard i/N of the
# sweep into OUT/shard-i; merge the shards when every task is done.
#
#   sbatch --array=1-3 engine/cli/deploy/slurm/sweep-array.sh sweep.toml results/sweep
#   # or submit the array and the merge together:
#   engine/cli/deploy/slurm/submit.sh 3 sweep.toml results/sweep
#
# ticktape takes the shard from the array: i = SLURM_ARRAY_TASK_ID -
# SLURM_ARRAY_TASK_MIN + 1 (so --array=0-2 and --array=1-3 both work) and
# N = SLURM_ARRAY_TASK_COUNT. A task that is requeued or run again continues
# its shard (--resume keeps the runs already complete).
#
# Environment: TICKTAPE (the binary; default `ticktape` on PATH).
# Paths must be visible on every node (a shared file system).
#SBATCH --job-name=ticktape-sweep
#SBATCH --array=1-3
#SBATCH --cpus-per-task=2
#SBATCH --output=ticktape-sweep-%A_%a.log
set -euo pipefail

sweep=${1:?usage: sbatch --array=1-N sweep-array.sh SWEEP.toml OUT}
out=${2:?usage: sbatch --array=1-N sweep-array.sh SWEEP.toml OUT}
ticktape=${TICKTAPE:-ticktape}
: "${SLURM_ARRAY_TASK_ID:?run this script with sbatch --array=1-N}"
i=$(( SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-1} + 1 ))

mkdir -p "$out"
exec "$ticktape" sweep "$sweep" -o "$out/shard-$i" --threads "${SLURM_CPUS_PER_TASK:-1}" --resume
