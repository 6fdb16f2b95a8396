"""Drawing results onto images (supervision's annotators). Drawing is never a result method."""

from mien.annotate.draw import ExpressionAnnotator

__all__ = ["ExpressionAnnotator"]
