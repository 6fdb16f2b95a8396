"""Training the expression model (needs the ``mien[train]`` extra: torch 2.13.0, onnx, pyyaml).

Nothing here is imported by the inference path; ``scripts/train.py`` is the thin entry point.
"""
