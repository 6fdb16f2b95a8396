"""Expression classifiers: aligned face crops in, calibrated perceived-expression probabilities."""

from mien.expression.model import ExpressionModel

__all__ = ["ExpressionModel"]
