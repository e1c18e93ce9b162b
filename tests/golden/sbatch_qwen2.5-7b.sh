#!/bin/bash

# Parameters
#SBATCH --cpus-per-task=64
#SBATCH --gpus-per-node=8
#SBATCH --job-name=insight
#SBATCH --mem=480GB
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output=/results/main/.submitit/%j_0_log.out
#SBATCH --requeue
#SBATCH --signal=USR2@120
#SBATCH --time=240
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /results/main/.submitit/%j_%t_log.out python -u -m submitit.core._submit /results/main/.submitit
