"""llama-cpp-python's build: the CMake flags for this CPU, and a rebuild when they change.

`flags` prints the CMAKE_ARGS for this machine. On x86-64: the instruction sets the CPU lists
(AVX2 with FMA and F16C, then AVX-512 and VNNI where present: 1.3x faster prompt reading than
AVX2 alone on a Xeon with AVX-512), never `-march=native` and never AMX, whose kernels crash
(SIGSEGV in ggml_backend_amx_mul_mat) where the OS does not grant AMX tile state, as on these
VMs. Elsewhere: nothing (llama.cpp's defaults; Metal on Apple Silicon).

`install` (run by the venv's Python) builds and installs llama-cpp-python when the venv's copy
was built with other flags than it needs: a CMAKE_ARGS in the environment when there is one
(CUDA, Metal); otherwise the flags of an earlier explicit CMAKE_ARGS are kept (a later plain
`just serve` must not turn a CUDA build back into a CPU one), else this CPU's. pip's wheel cache
is keyed by version, not by flags, so it is bypassed: it would reinstall the old build.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

STAMP = Path(".venv/.stamps/llama")
BASELINE = ("AVX", "AVX2", "FMA", "F16C")
# ggml's GGML_AVX512 needs the F, CD, VL, DQ and BW subsets together.
AVX512_BASE = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
AVX512_EXTRAS = {
    "avx512vbmi": "AVX512_VBMI",
    "avx512vnni": "AVX512_VNNI",
    "avx512bf16": "AVX512_BF16",
}


def cpu_features() -> set[str] | None:
    """The CPU's feature names, lower case without underscores ("avx512vnni"), or None when this
    system does not say."""
    text = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                text = line.partition(":")[2]
                break
    elif platform.system() == "Darwin":
        keys = ["machdep.cpu.features", "machdep.cpu.leaf7_features"]
        done = subprocess.run(["sysctl", "-n", *keys], capture_output=True, text=True)
        text = done.stdout if done.returncode == 0 else ""
    names = {word.lower().replace("_", "").replace(".", "") for word in text.split()}
    return names or None


def cmake_args(machine: str, features: set[str] | None) -> str:
    """CMAKE_ARGS for llama.cpp on `machine` (platform.machine()) with these CPU features."""
    if machine.lower() not in ("x86_64", "amd64"):
        return ""
    if features is None:  # unknown CPU: the AVX2 baseline every x86-64 CPU since 2013 has
        enabled = list(BASELINE)
    else:
        enabled = [name for name in BASELINE if name.lower() in features]
        if all(name in features for name in AVX512_BASE):
            enabled.append("AVX512")
            enabled += [flag for name, flag in AVX512_EXTRAS.items() if name in features]
        if "avxvnni" in features:
            enabled.append("AVX_VNNI")
    return " ".join(["-DGGML_NATIVE=OFF", *(f"-DGGML_{name}=ON" for name in enabled)])


def requirement() -> str:
    """llama-cpp-python's requirement as pyproject.toml states it."""
    import tomllib  # Python 3.11+, like the venv; `flags` runs on any python3

    project = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]
    return next(d for d in project["dependencies"] if d.startswith("llama-cpp-python"))


def wanted(environ: dict[str, str], stamp: str | None, cpu: str) -> str:
    """The stamp the venv's build must have: "explicit:<CMAKE_ARGS>" or "auto:<CPU flags>"."""
    if environ.get("CMAKE_ARGS", "").strip():
        return "explicit:" + environ["CMAKE_ARGS"].strip()
    if stamp is not None and stamp.startswith("explicit:"):
        return stamp
    return "auto:" + cpu


def install() -> int:
    stamp = STAMP.read_text(encoding="utf-8") if STAMP.is_file() else None
    need = wanted(dict(os.environ), stamp, cmake_args(platform.machine(), cpu_features()))
    if need == stamp:
        return 0
    flags = need.partition(":")[2]
    print(f"building llama-cpp-python with CMAKE_ARGS={flags!r} (about 5 min on 2 cores)")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    args = ["--force-reinstall", "--no-cache-dir", "--no-deps", requirement()]
    subprocess.run([*pip, *args], check=True, env={**os.environ, "CMAKE_ARGS": flags})
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(need, encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["flags"]:
        print(cmake_args(platform.machine(), cpu_features()))
        return 0
    if argv == ["install"]:
        return install()
    print("usage: llama_build.py flags|install", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
