"""Weights of the upright check (orientation_v1: ONNX, its spec and card)."""
