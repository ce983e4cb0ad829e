import subprocess
import sys


def test_importing_the_server_imports_neither_torch_nor_transformers():
    code = (
        "import sys, srllm.server.app, srllm.cli, srllm.server.engine, srllm.contract;"
        "srllm.cli.build_parser();"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'gguf') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_contract_imports_only_the_standard_library():
    code = (
        "import sys; before = set(sys.modules); import srllm.contract;"
        "new = {m.split('.')[0] for m in set(sys.modules) - before};"
        "print(sorted(new - set(sys.stdlib_module_names) - {'srllm'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
