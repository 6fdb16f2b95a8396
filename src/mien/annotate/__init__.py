"""Drawing results onto images (supervision's annotators). Drawing is never a result method."""

from mien.annotate.draw import NOTICE, ExpressionAnnotator, draw_notice

__all__ = ["NOTICE", "ExpressionAnnotator", "draw_notice"]
