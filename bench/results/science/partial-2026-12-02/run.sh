#!/usr/bin/env bash
# The long-budget NLI RH1 comparison as it was started: two lanes, one thread each, lowest CPU priority.
# Run from a checkout's root; DATA is the CAD folder, OUT a folder for the store and the logs.
set -u
DATA=${DATA:-../shared/data/cad} OUT=${OUT:-/tmp/cast-science}
mkdir -p "$OUT/logs"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
CAST="nice -n 19 .venv/bin/python -m cast_engine.cli --db $OUT/runs.sqlite"
COMMON="run --data $DATA --task nli --variant RH1 --max-length 64 --batch-size 32 --bf16 --max-epochs 20 --patience 10 --seed ${SEED:-1}"
lane_a() {
  $CAST $COMMON --method cast --lr 5e-5 --alpha 0.05 --k 9.1% --mask-criterion disagreement --name sci-cast-disagreement-s${SEED:-1} > "$OUT/logs/cast-disagreement-s${SEED:-1}.log" 2>&1
  $CAST $COMMON --method full --lr 5e-5 --name sci-full-s${SEED:-1} > "$OUT/logs/full-s${SEED:-1}.log" 2>&1
}
lane_b() {
  $CAST $COMMON --method cast --lr 5e-5 --alpha 0.05 --k 9.1% --mask-criterion factual_magnitude --name sci-cast-factual-magnitude-s${SEED:-1} > "$OUT/logs/cast-factual-magnitude-s${SEED:-1}.log" 2>&1
  $CAST $COMMON --method lora --lr 5e-4 --name sci-lora-s${SEED:-1} > "$OUT/logs/lora-s${SEED:-1}.log" 2>&1
}
lane_a & lane_b & wait
