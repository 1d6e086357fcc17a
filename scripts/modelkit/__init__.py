"""Python tools that build the embedded Korean cross-encoder (models/ko-reranker-tiny).

Run with Debian's python3 (python3-torch, python3-onnx, python3-sentencepiece); see scripts/setup-python.sh.
"""
