"""tools/llama_build.py: llama-cpp-python's CMake flags follow the CPU (never AMX, never native),
and `install` rebuilds only when the flags changed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("llama_build", ROOT / "tools" / "llama_build.py")
llama_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(llama_build)

# A Sapphire Rapids Xeon's features, as cpu_features spells them
XEON = {"fma", "avx", "f16c", "avx2", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl",
        "avx512vnni", "avx512bf16", "avx512vbmi", "avxvnni", "amxtile", "amxint8", "amxbf16"}  # fmt: skip  # noqa: E501


def flags(args: str) -> list[str]:
    return args.split()


def test_xeon_with_amx_gets_avx512_and_vnni_but_no_amx_and_no_native():
    args = flags(llama_build.cmake_args("x86_64", XEON))
    assert "-DGGML_NATIVE=OFF" in args
    for name in ("AVX2", "FMA", "F16C", "AVX512", "AVX512_VNNI", "AVX512_BF16", "AVX_VNNI"):
        assert f"-DGGML_{name}=ON" in args
    assert not [a for a in args if "AMX" in a]


def test_avx512_needs_all_five_base_subsets():
    laptop = {"avx", "avx2", "fma", "f16c", "avx512f", "avx512vnni"}  # no BW/VL/DQ/CD
    args = flags(llama_build.cmake_args("x86_64", laptop))
    assert "-DGGML_AVX2=ON" in args
    assert not [a for a in args if "AVX512" in a]


def test_a_cpu_without_avx2_is_not_given_it():
    args = flags(llama_build.cmake_args("x86_64", {"avx", "f16c"}))
    assert args == ["-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_F16C=ON"]


def test_unknown_x86_cpu_gets_the_avx2_baseline_and_other_machines_nothing():
    assert flags(llama_build.cmake_args("AMD64", None)) == [
        "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON"
    ]  # fmt: skip
    assert llama_build.cmake_args("arm64", XEON) == ""
    assert llama_build.cmake_args("aarch64", None) == ""


def test_features_are_read_from_this_machine_in_one_spelling():
    features = llama_build.cpu_features()
    if features is None:
        pytest.skip("this system does not list its CPU features")
    assert all(name == name.lower() and "_" not in name for name in features)


def test_requirement_is_pyprojects():
    assert llama_build.requirement().startswith("llama-cpp-python>=")


def test_wanted_build_explicit_args_win_and_stay_auto_follows_the_cpu():
    cpu = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"
    assert llama_build.wanted({}, None, cpu) == "auto:" + cpu  # a fresh venv
    assert llama_build.wanted({"CMAKE_ARGS": " -DGGML_CUDA=on "}, None, cpu) == (
        "explicit:-DGGML_CUDA=on"
    )
    # A later plain `just serve` keeps the CUDA build instead of rebuilding for the CPU.
    assert llama_build.wanted({}, "explicit:-DGGML_CUDA=on", cpu) == "explicit:-DGGML_CUDA=on"
    assert llama_build.wanted({"CMAKE_ARGS": ""}, "auto:-DGGML_AVX=ON", cpu) == "auto:" + cpu


def test_install_builds_once_per_wanted_flags_without_pips_wheel_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["llama-cpp-python>=0.3.16", "numpy"]\n'
    )
    calls: list[tuple[list[str], str]] = []
    monkeypatch.setattr(
        subprocess, "run", lambda cmd, check, env: calls.append((cmd, env["CMAKE_ARGS"]))
    )
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_CUDA=on")
    assert llama_build.install() == 0
    assert len(calls) == 1 and calls[0][1] == "-DGGML_CUDA=on"
    assert calls[0][0][0] == sys.executable
    assert {"--force-reinstall", "--no-cache-dir", "llama-cpp-python>=0.3.16"} <= set(calls[0][0])
    assert (tmp_path / ".venv/.stamps/llama").read_text() == "explicit:-DGGML_CUDA=on"
    monkeypatch.delenv("CMAKE_ARGS")
    assert llama_build.install() == 0  # nothing new asked: the CUDA build stays
    assert len(calls) == 1
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_NATIVE=OFF -DGGML_AVX2=ON")
    llama_build.install()
    assert len(calls) == 2 and calls[1][1] == "-DGGML_NATIVE=OFF -DGGML_AVX2=ON"


def test_a_failed_build_writes_no_stamp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["llama-cpp-python"]\n')

    def fail(cmd, check, env):
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(subprocess, "run", fail)
    with pytest.raises(subprocess.CalledProcessError):
        llama_build.install()
    assert not (tmp_path / ".venv/.stamps/llama").exists()
