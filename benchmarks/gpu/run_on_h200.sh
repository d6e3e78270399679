#!/usr/bin/env bash
# The GPU check of the torch engine in ONE command, on the H200 device machine:
#
#   here, once:   benchmarks/gpu/fetch_wheels.sh            (wheels/ for Mesa and pydantic, ~3 MB)
#   device tool:  run(command="bash benchmarks/gpu/run_on_h200.sh", carry=["wheels"], timeout_s=600)
#
# On any CUDA machine with labnet's dependencies installed it runs as `bash benchmarks/gpu/run_on_h200.sh`
# (no wheels/ folder: nothing is installed). Results go to $OUT (the device tool's folder that comes
# back; default ./bench-gpu-out): nvidia-smi.txt, test_torch_engine.log (the equivalence tests, the
# CUDA ones included), cli_scenario.yaml (a 3-tick `labnet run` on CUDA records engine/device),
# bench_gpu.md / bench_gpu.json / bench_gpu.log (benchmarks/bench_gpu.py, sized to end in ~6 min).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/bench-gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G "wheels/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site wheels/*.whl \
        || { echo "installing wheels/ failed"; exit 1; }
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD"   # labnet imports from the checkout (labnet/__init__.py)
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/nvidia-smi.txt" 2>&1
cat "$OUT/nvidia-smi.txt"
python3 -c "import torch, numba, mesa, pydantic, labnet.models.torch_engine as t; \
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numba', numba.__version__, \
'mesa', mesa.__version__, 'pydantic', pydantic.__version__, 'labnet', t.__file__)" || exit 1

# 1. equivalence tests (CPU and CUDA), ~1 min
timeout 180 python3 -m pytest -q -p no:cacheprovider tests/test_torch_engine.py 2>&1 | tee "$OUT/test_torch_engine.log"

# 2. the command line on CUDA: auto picks torch on cuda and the run directory records it
rm -rf /tmp/labnet-cli && timeout 120 python3 -m labnet.runs run default --ticks 3 --trials 1 --out /tmp/labnet-cli \
    --no-progress > "$OUT/cli_run.log" 2>&1
cp /tmp/labnet-cli/*/scenario.yaml "$OUT/cli_scenario.yaml" 2>/dev/null && grep -E "engine|device" "$OUT/cli_scenario.yaml"

# 3. the benchmark table (numba on all cores and 2 threads vs torch on CUDA: eager, compile, graph)
timeout 420 python3 benchmarks/bench_gpu.py --out "$OUT" 2>&1 | tee "$OUT/bench_gpu.log"
