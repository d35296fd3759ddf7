#!/usr/bin/env bash
# The long-budget NLI RH1 comparison: two lanes, one thread each, lowest CPU priority.
set -u
cd /work/science
export PYTHONPATH=/work/science-src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
CAST="nice -n 19 /work/main/.venv/bin/python -m cast_engine.cli --db /work/science/runs.sqlite"
COMMON="run --data /work/shared/data/cad --task nli --variant RH1 --max-length 64 --batch-size 32 --bf16 --max-epochs 20 --patience 10 --seed ${SEED:-1}"
lane_a() {
  $CAST $COMMON --method cast --lr 5e-5 --alpha 0.05 --k 9.1% --mask-criterion disagreement --name sci-cast-disagreement-s${SEED:-1} > logs/cast-disagreement-s${SEED:-1}.log 2>&1
  $CAST $COMMON --method full --lr 5e-5 --name sci-full-s${SEED:-1} > logs/full-s${SEED:-1}.log 2>&1
}
lane_b() {
  $CAST $COMMON --method cast --lr 5e-5 --alpha 0.05 --k 9.1% --mask-criterion factual_magnitude --name sci-cast-factual-magnitude-s${SEED:-1} > logs/cast-factual-magnitude-s${SEED:-1}.log 2>&1
  $CAST $COMMON --method lora --lr 5e-4 --name sci-lora-s${SEED:-1} > logs/lora-s${SEED:-1}.log 2>&1
}
mkdir -p logs
lane_a & lane_b & wait
