#!/usr/bin/env bash
# The long-budget NLI RH1 study as it was run: one seed, each arm in its own process at one
# thread, at low CPU priority. Run from a checkout's root; DATA is the CAD folder, STORE a run store.
set -u
DATA=${DATA:-../shared/data/cad} STORE=${STORE:-/tmp/science/runs.sqlite}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
STUDY="nice -n 5 .venv/bin/python bench/science.py run --store $STORE --data $DATA --seeds 1 --patience 10 \
  --max-length 64 --batch-size 32 --bf16 --lora-lr 5e-4"
$STUDY --max-epochs 20 --arms full &
$STUDY --max-epochs 20 --arms cast-factual-magnitude &
$STUDY --max-epochs 20 --arms lora &
$STUDY --max-epochs 12 --arms cast &   # the paper's criterion: 12 iterations, what the time allowed
wait
.venv/bin/python bench/science.py report --store $STORE --out bench/results/science
