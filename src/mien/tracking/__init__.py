"""Following faces through a video: ephemeral track ids and per-track smoothing.

Ids restart with every source; no face embedding or identity is computed or kept.
"""

from mien.tracking.iou import FaceTracker
from mien.tracking.smoothing import ExpressionSmoother, UprightSmoother

__all__ = ["ExpressionSmoother", "FaceTracker", "UprightSmoother"]
