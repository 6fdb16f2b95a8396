"""Per-face quality flags: face size, sharpness, head pose, truncation, and ``quality_ok``."""

from mien.quality.measures import QUALITY_COLUMNS, QualityThresholds, assess
from mien.quality.pose import FaceMeshPose, head_pose

__all__ = ["QUALITY_COLUMNS", "FaceMeshPose", "QualityThresholds", "assess", "head_pose"]
