"""srllm.server: the llama.cpp engine, the task (flag, rewrite, debias over passages) and the
HTTP API. The task contract, errors and paths it shares with the other stages live in the core
package (srllm/).

Importing this package imports neither torch nor transformers (a test checks it).
"""
