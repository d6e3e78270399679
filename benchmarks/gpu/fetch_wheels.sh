#!/usr/bin/env bash
# Fetch, on a machine with internet access, the Python packages labnet needs that the H200 image
# lacks (benchmarks/gpu/run_on_h200.sh installs them there offline). Run from anywhere:
#
#     benchmarks/gpu/fetch_wheels.sh
#
# The H200 image has Python 3.12 with CUDA torch 2.11, numba, numpy, pandas, pyarrow, scipy,
# networkx, matplotlib, scikit-learn, Lightning, PyYAML, tqdm and pytest (see the device notes);
# labnet also needs Mesa and pydantic (with pydantic-core, annotated-types, typing-inspection,
# typing-extensions). The wheels go to <repo>/wheels/, which .git/info/exclude ignores (this
# script adds the line), so they never enter the repository but travel with the working tree
# when the device call names `wheels` in carry (about 3 MB).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
exclude="$(git rev-parse --git-common-dir)/info/exclude"
grep -qxF '/wheels/' "$exclude" 2>/dev/null || echo '/wheels/' >> "$exclude"
mkdir -p wheels
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d wheels/ \
    "mesa==3.3.1" "pydantic==2.14.4" "pydantic-core==2.50.5" "annotated-types==0.8.0" \
    "typing-inspection==0.4.5" "typing-extensions>=4.14"
ls -l wheels/
