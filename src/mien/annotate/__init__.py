"""Drawing results onto images (supervision's annotators). Drawing is never a result method."""

from mien.annotate.draw import (
    CAPTION,
    NOTICE,
    ExpressionAnnotator,
    bar_panels,
    draw_caption,
    draw_notice,
)
from mien.annotate.hold import BlurHold

__all__ = [
    "CAPTION",
    "NOTICE",
    "BlurHold",
    "ExpressionAnnotator",
    "bar_panels",
    "draw_caption",
    "draw_notice",
]
