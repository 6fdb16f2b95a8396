"""Weights of the upright check (orientation_v2: ONNX, its spec and card)."""
