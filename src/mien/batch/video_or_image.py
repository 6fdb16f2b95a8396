"""Rows of one input, image or video, as the batch writes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


def analyze_input(
    analyzer: Any, path: Path, options: dict[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    """Yield the rows of each processed image/frame of ``path`` (one list per frame).

    Raises:
        MienError: the file cannot be read or decoding broke off (after the frames before).
    """
    from mien.export import result_rows
    from mien.io import iter_frames, media_kind, prefetch, read_image
    from mien.tracking import ExpressionSmoother, FaceTracker

    if media_kind(path) == "image":  # from the file's head: a video is never read whole
        image = read_image(path, max_pixels=analyzer.max_pixels)
        yield result_rows(analyzer.analyze(image, source=str(path)))
        return
    frames = prefetch(
        iter_frames(
            path,
            every=options.get("every", 1),
            fps=options.get("fps"),
            start_s=options.get("start_s", 0.0),
            end_s=options.get("end_s"),
        ),
        16,
    )
    try:
        for result in analyzer.run(
            frames, tracker=FaceTracker(), smoother=ExpressionSmoother(options.get("tau", 0.5))
        ):
            yield result_rows(result)
    finally:
        frames.close()
