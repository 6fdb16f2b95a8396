"""Expression classifiers: aligned face crops in, calibrated perceived-expression probabilities out."""

from mien.expression.model import ExpressionModel

__all__ = ["ExpressionModel"]
