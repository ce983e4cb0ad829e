#!/usr/bin/env bash
# The GPU part of training (issue 5) on the lent device machine: no network there, 64 MiB per
# call, and the embedded base GGUF (98 MB) must go in two halves (../shared/device/README.md).
#
#   here:    bash tools/device_train.sh pack      # fills .device/ (git-ignored), prints the calls
#   call 1:  carry .device/wheels .device/data .device/base.gguf.part-00
#            command: bash tools/device_train.sh stage1
#   call 2:  right after call 1 (a warm machine keeps part-00; it goes back after ~30 s idle)
#            carry .device/base.gguf.part-01 .device/base.gguf.sha256
#            command: bash tools/device_train.sh stage2        (timeout_s 540)
#
# stage2 trains training/configs/gpu.toml (bf16 on CUDA) with a time budget, then runs
# bench-train, and writes under $OUT: nvidia-smi.txt, train.log, run.json, adapter/ (r=64 in bf16
# is ~39 MB: fine to bring back, over the ~20 MB a committed default may take), bench-train.log
# and bench-train.json. Extra key=value arguments go to both commands (a CPU rehearsal here:
#   OUT=/tmp/dev bash tools/device_train.sh stage2 max_steps=2 batch_size=2 precision=fp32).
set -euo pipefail
cd "$(dirname "$0")/.."
dev=.device
stage=${1:-}
shift || true

case "$stage" in
pack)
    [ -f "$dev/base.gguf.part-01" ] || ../shared/device/pack.sh
    # platformdirs (srllm.paths) may be missing there; pure Python, any version >= 4.
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$dev/wheels" "platformdirs>=4"
    rm -rf "$dev/data"
    mkdir -p "$dev/data/srllm" "$dev/data/extra"
    cp ../shared/data/srllm/*.csv ../shared/data/srllm/SOURCE.md "$dev/data/srllm/"
    for file in paradetox/paradetox_pairs.jsonl \
        neutral_rewriter_gender/neutral_rewriter_pairs.jsonl \
        toxigen/toxigen_annotated_train_clean.csv; do
        mkdir -p "$dev/data/extra/$(dirname "$file")"
        cp "../shared/data/extra/$file" "$dev/data/extra/$file"
    done
    du -ch "$dev/wheels" "$dev/data" "$dev/base.gguf.part-00" | tail -1 | sed 's/^/call 1 carries /'
    du -ch "$dev/base.gguf.part-01" "$dev/base.gguf.sha256" | tail -1 | sed 's/^/call 2 carries /'
    ;;
stage1)
    # Quick on purpose: the second call must reach a machine that is still warm.
    test -f "$dev/base.gguf.part-00"
    python3 -m pip install -q --no-index --no-deps --target "$dev/site" "$dev"/wheels/*.whl
    # The project is not pip-installed there: lay out the `srllm` package as pyproject's
    # package-dir does (the core, with each stage folder linked in under it).
    rm -rf "$dev/pkg" && mkdir -p "$dev/pkg/srllm"
    cp srllm/*.py srllm/*.json "$dev/pkg/srllm/" 2>/dev/null || cp srllm/*.py "$dev/pkg/srllm/"
    for stage in server training convert evaluation; do ln -s "$PWD/$stage" "$dev/pkg/srllm/$stage"; done
    PYTHONPATH="$dev/site:$dev/pkg" python3 -c "import gguf, platformdirs, peft, srllm.training.train"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    ;;
stage2)
    out=${OUT:?set OUT to the folder whose files come back}
    cat "$dev/base.gguf.part-00" "$dev/base.gguf.part-01" > "$dev/base.gguf"
    echo "$(cat "$dev/base.gguf.sha256")  $dev/base.gguf" | sha256sum -c --quiet
    export SRLLM_EMBEDDED_GGUF="$PWD/$dev/base.gguf" SRLLM_HOME="$PWD/$dev/home"
    export PYTHONPATH="$dev/site:$dev/pkg" HF_HUB_OFFLINE=1
    (nvidia-smi || echo "no nvidia-smi") > "$out/nvidia-smi.txt" 2>&1
    data=(data_dir="$dev/data/srllm" extra_dir="$dev/data/extra")
    rm -rf "$dev/run"
    status=0
    timeout 330 python3 -m srllm.training train --config training/configs/gpu.toml "${data[@]}" \
        output_dir="$dev/run" time_budget_min=4 save_every=0 log_every=5 "$@" \
        > "$out/train.log" 2>&1 || status=$?
    tail -5 "$out/train.log"
    if [ -f "$dev/run/run.json" ]; then
        cp "$dev/run/run.json" "$out/"
        cp -r "$dev/run/adapter" "$out/adapter"
    fi
    timeout 150 python3 -m srllm.training bench-train --config training/configs/gpu.toml \
        --steps "${BENCH_STEPS:-20}" --json "$out/bench-train.json" "${data[@]}" "$@" \
        > "$out/bench-train.log" 2>&1 || status=$?
    tail -8 "$out/bench-train.log"
    exit "$status"
    ;;
*)
    echo "usage: tools/device_train.sh pack|stage1|stage2 [key=value ...]" >&2
    exit 2
    ;;
esac
