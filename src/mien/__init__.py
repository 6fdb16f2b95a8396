"""mien: perceived facial expression in images.

mien reports what a face *looks like* (perceived expression) with calibrated uncertainty. It
makes no claim about what anyone feels, intends or is.

>>> import mien
>>> result = mien.Analyzer().analyze("photo.jpg")
>>> result.faces.xyxy, result.faces.expression
"""

import importlib.metadata as _metadata
import os as _os
from typing import TYPE_CHECKING, Any

# onnxruntime (1.32 and later) otherwise keeps a device id and a queue of usage events, meant
# for Microsoft, under ~/.cache/Microsoft/DeveloperTools; mien keeps everything local. The
# variable is read when onnxruntime is imported, so this must come before that (a program that
# imported onnxruntime before mien has it on already; set ORT_DISABLE_TELEMETRY=1 yourself).
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from mien.errors import (
    DatasetError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    MienError,
    StreamError,
    TimeWindowsError,
    UnknownDetectorError,
    UnknownModelError,
    UnreadableImageError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    WeightsError,
)
from mien.io import LiveStream, iter_frames, prefetch, probe_video, read_image
from mien.pipeline import Analyzer
from mien.registry import create_model, list_models
from mien.tracking import ExpressionSmoother, FaceTracker
from mien.types import EXPRESSIONS, KEYPOINT_NAMES, Faces, Frame, FrameResult, ImageBGR

_SUBMODULES = frozenset(
    {
        "alignment",
        "annotate",
        "batch",
        "detection",
        "evaluation",
        "export",
        "expression",
        "io",
        "model_card",
        "plots",
        "quality",
        "service",
        "summary",
        "tracking",
        "weights",
    }
)
"""Subpackages that ``mien.<name>`` imports on first use (``mien.summary.track_summary`` after
a plain ``import mien``), so that ``import mien`` itself stays light (no matplotlib, FastAPI
or pandas). ``mien.training`` needs torch and is imported by name only."""


if TYPE_CHECKING:  # what __getattr__ gives, as type checkers should see it
    from mien import alignment as alignment
    from mien import annotate as annotate
    from mien import batch as batch
    from mien import detection as detection
    from mien import evaluation as evaluation
    from mien import export as export
    from mien import expression as expression
    from mien import io as io
    from mien import model_card as model_card
    from mien import plots as plots
    from mien import quality as quality
    from mien import service as service
    from mien import summary as summary
    from mien import tracking as tracking
    from mien import weights as weights


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"mien.{name}")
    raise AttributeError(f"module 'mien' has no attribute {name!r}")


try:
    __version__ = _metadata.version("mien")
except _metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "EXPRESSIONS",
    "KEYPOINT_NAMES",
    "Analyzer",
    "DatasetError",
    "ExpressionSmoother",
    "FaceTracker",
    "Faces",
    "Frame",
    "FrameResult",
    "ImageBGR",
    "ImageError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "LiveStream",
    "MienError",
    "StreamError",
    "TimeWindowsError",
    "UnknownDetectorError",
    "UnknownModelError",
    "UnreadableImageError",
    "VideoDecodeError",
    "VideoError",
    "VideoNotFoundError",
    "WeightsError",
    "__version__",
    "create_model",
    "iter_frames",
    "list_models",
    "prefetch",
    "probe_video",
    "read_image",
]
