"""srllm's local server: the task contract, the llama.cpp engine and the HTTP API.

Importing this package imports neither torch nor transformers (a test checks it).
"""
