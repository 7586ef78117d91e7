#!/usr/bin/env bash
# benchmarks/gpu_check.py on a machine without network (see benchmarks/README.md).
#
#   bash benchmarks/gpu_check.sh [--device gpu|cpu] [--smoke] [--wheels DIR] [--out DIR] [gpu_check.py options]
#
# Keras and keras-hub come from the wheels in --wheels (default .whl/ at the
# repository root, filled by `make gpu-wheels`), installed without network or
# dependencies into a temporary folder put on PYTHONPATH, so the machine's own
# torch, JAX and timm are used; keras_vit is this checkout's source. Without
# that folder, an interpreter that already has Keras is used as it is.
# PYTHON picks the interpreter (default python3); the other options go to
# benchmarks/gpu_check.py (--help lists them).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
wheels=$root/.whl
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --wheels) wheels=${2:?--wheels needs a folder}; shift 2 ;;
        --wheels=*) wheels=${1#--wheels=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

site=
if compgen -G "$wheels/*.whl" > /dev/null; then
    site=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_site.XXXXXX")
    trap 'rm -rf "$site"' EXIT
    "$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
        --target "$site" "$wheels"/*.whl
    echo "gpu_check.sh: installed into $site:" $(cd "$wheels" && ls -- *.whl)
elif "$python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("keras") is None)'; then
    echo "gpu_check.sh: no wheels in $wheels; $python has Keras already"
else
    echo "gpu_check.sh: no wheels in $wheels and $python has no Keras;" \
        "run 'make gpu-wheels' where pip reaches the package index" >&2
    exit 2
fi

export PYTHONPATH="$root${site:+:$site}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
"$python" "$root/benchmarks/gpu_check.py" ${args[@]+"${args[@]}"}
