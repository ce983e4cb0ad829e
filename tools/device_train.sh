#!/usr/bin/env bash
# Training on the lent GPU machine: no network there, 64 MiB per call (the tracked tree counts),
# at most 8 files of 16 MiB back, and the embedded base GGUF (98 MB) must go in two halves
# (../shared/device/README.md). Several configs train side by side on the one GPU.
#
#   here:    bash tools/device_train.sh pack      # fills .device/ (git-ignored), prints the sizes
#   call 1:  carry .device/wheels .device/data.tar.xz .device/base.gguf.part-00
#            command: bash tools/device_train.sh stage1
#   call 2:  right after call 1 (a warm machine keeps part-00; it goes back after ~30 s idle)
#            carry .device/base.gguf.part-01 .device/base.gguf.sha256
#            command: CONFIGS="v14-gpu-fresh v15-gpu-srllm-heavy" bash tools/device_train.sh stage2
#            (timeout_s 540)
#
# stage2 joins the GGUF, builds the HF cache of the base once, then trains each config of CONFIGS
# (names under training/configs/, default "gpu") at once, each with its time budget, and writes
# under $OUT: nvidia-smi.txt and one NAME.tgz per run (train.log, run.json, adapter/). Extra
# key=value arguments go to every run. A CPU rehearsal here:
#   PYTHON=.venv/bin/python OUT=/tmp/dev CONFIGS=v14-gpu-fresh bash tools/device_train.sh stage2 \
#       max_steps=2 batch_size=2 precision=fp32 time_budget_min=0
# The tracked tree travels on every call: the committed adapters the runs do not start from are
# ~40 MB, so `hide` leaves them out of the index for the calls and `unhide` puts them back.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=.device
python=${PYTHON:-python3}
stage=${1:-}
shift || true
# Adapters no device run starts from (the default is the init of the continued runs).
hidden=(training/adapters/srllm-only training/adapters/v2-toxigen training/adapters/v3-paradetox
    training/adapters/v4)

case "$stage" in
pack)
    mkdir -p "$dev/wheels"
    "$python" -m pip download -q --no-deps --only-binary=:all: -d "$dev/wheels" gguf diskcache \
        "platformdirs>=4"
    if [ ! -f "$dev/base.gguf.part-01" ]; then
        gguf=$("$python" -c 'from srllm import paths; print(paths.embedded_model())')
        split -n 2 -d -a 2 "$gguf" "$dev/base.gguf.part-"
        sha256sum "$gguf" | cut -d' ' -f1 > "$dev/base.gguf.sha256"
    fi
    rm -rf "$dev/data"
    mkdir -p "$dev/data/srllm" "$dev/data/extra"
    cp ../shared/data/srllm/*.csv ../shared/data/srllm/SOURCE.md "$dev/data/srllm/"
    for source in paradetox neutral_rewriter_gender toxigen wnc_sample holisticbias; do
        cp -r "../shared/data/extra/$source" "$dev/data/extra/"
    done
    # Compressed: the data (14 MB, ~2 MB as xz) shares call 1 with a 47 MiB half of the GGUF.
    tar cJf "$dev/data.tar.xz" -C "$dev" data && rm -rf "$dev/data"
    du -cb "$dev/wheels" "$dev/data.tar.xz" "$dev/base.gguf.part-00" | tail -1 | sed 's/^/call 1 carries /'
    du -cb "$dev/base.gguf.part-01" "$dev/base.gguf.sha256" | tail -1 | sed 's/^/call 2 carries /'
    ;;
hide)
    for folder in "${hidden[@]}"; do
        git rm -r -q --cached "$folder"
        grep -qx "/$folder/" .git/info/exclude 2>/dev/null || echo "/$folder/" >> .git/info/exclude
    done
    git ls-files -z | xargs -0 du -cb | tail -1 | sed 's/total$/bytes tracked/'
    echo "the index now lacks ${hidden[*]}: run 'bash tools/device_train.sh unhide' before any commit" >&2
    ;;
unhide)
    for folder in "${hidden[@]}"; do
        sed -i "\#^/$folder/\$#d" .git/info/exclude
        git reset -q HEAD -- "$folder"
    done
    git status --short training/adapters
    ;;
stage1)
    # Quick on purpose: the second call must reach a machine that is still warm.
    test -f "$dev/base.gguf.part-00"
    rm -rf "$dev/data" && tar xJf "$dev/data.tar.xz" -C "$dev"
    "$python" -m pip install -q --no-index --no-deps --target "$dev/site" "$dev"/wheels/*.whl
    # The project is not pip-installed there: lay out the `srllm` package as pyproject's
    # package-dir does (the core, with each stage folder under it), in links, so that
    # srllm.paths.REPO resolves to this checkout (configs name repository paths). Python runs
    # with -P: the checkout's own srllm/ folder (the core alone) must not shadow the layout.
    rm -rf "$dev/pkg" && mkdir -p "$dev/pkg/srllm"
    for file in srllm/*.py srllm/*.json server training convert evaluation; do
        ln -s "$PWD/$file" "$dev/pkg/srllm/$(basename "$file")"
    done
    PYTHONPATH="$dev/site:$dev/pkg" "$python" -P -c "import gguf, platformdirs, peft, srllm.training.train"
    (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no GPU") |
        tee "$OUT/gpu.txt"
    ;;
stage2)
    out=${OUT:?set OUT to the folder whose files come back}
    if [ ! -f "$dev/base.gguf" ]; then
        cat "$dev/base.gguf.part-00" "$dev/base.gguf.part-01" > "$dev/base.gguf"
    fi
    echo "$(cat "$dev/base.gguf.sha256")  $dev/base.gguf" | sha256sum -c --quiet
    export SRLLM_EMBEDDED_GGUF="$PWD/$dev/base.gguf" SRLLM_HOME="$PWD/$dev/home"
    export PYTHONPATH="$dev/site:$dev/pkg" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
    (nvidia-smi || echo "no nvidia-smi") > "$out/nvidia-smi.txt" 2>&1
    # One process builds the base's HF cache; the runs would race on it.
    "$python" -P -c "from srllm.training.model import resolve_base; print(resolve_base('embedded')[0])"
    data=(data_dir="$dev/data/srllm" extra_dir="$dev/data/extra")
    read -r -a configs <<< "${CONFIGS:-gpu}"
    pids=()
    for name in "${configs[@]}"; do
        rm -rf "$dev/run-$name" && mkdir -p "$dev/run-$name"
        timeout "${RUN_TIMEOUT_S:-450}" "$python" -P -m srllm.training train \
            --config "training/configs/$name.toml" "${data[@]}" output_dir="$dev/run-$name" \
            threads=4 save_every=0 merge=false "$@" > "$dev/run-$name/train.log" 2>&1 &
        pids+=($!)
    done
    status=0
    for i in "${!configs[@]}"; do
        name=${configs[$i]}
        wait "${pids[$i]}" || { status=$?; echo "$name exited $status"; }
        tail -3 "$dev/run-$name/train.log"
        # The tail of the log and whatever was saved come back even from a run cut short.
        files=(train.log)
        for file in run.json adapter; do [ -e "$dev/run-$name/$file" ] && files+=("$file"); done
        tar czf "$out/$name.tgz" -C "$dev/run-$name" "${files[@]}"
    done
    exit "$status"
    ;;
*)
    echo "usage: tools/device_train.sh pack|hide|unhide|stage1|stage2 [key=value ...]" >&2
    exit 2
    ;;
esac
