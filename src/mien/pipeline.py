"""``Analyzer``: read → detect → align → classify. It only wires the stages together.

``analyze()`` handles one image; ``analyze_batch()`` handles many files, decoding the next ones in
a background thread and never stopping on a bad file; ``run()`` follows the frames of one video
or stream, with a tracker and per-track smoothing.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mien.alignment import TEMPLATES, align_faces, crop_whole_image
from mien.detection import MediaPipeFaceDetector
from mien.detection.base import FaceDetector
from mien.detection.mediapipe import DETECTOR_MODELS, DetectorModel, check_detector_model
from mien.errors import UnknownDetectorError
from mien.expression import ExpressionModel
from mien.io import DEFAULT_MAX_PIXELS, read_image
from mien.quality import FaceMeshPose, QualityThresholds, assess
from mien.quality.measures import QUALITY_CROP_SIDE, quality_ok
from mien.quality.orientation import UprightCheck
from mien.registry import DEFAULT_MODEL, create_model
from mien.tracking import ExpressionSmoother, FaceTracker
from mien.types import Faces, Frame, FrameResult, ImageBGR, finite_seconds, whole_number

ImageSource = str | os.PathLike[str] | bytes | ImageBGR | Image.Image

LOOK_WIDER_S = 1.0
"""In :meth:`Analyzer.run`, how often (seconds of media time) the ``"auto"`` detector looks
wider (``detect(..., wider=True)``): its full-range pass runs after a short-range pass that
found any face, so that a face short-range never finds is looked for too (a reviewer's two
110 px faces side by side: one was missed in all 72 frames, in 12 with this)."""


@dataclass(frozen=True)
class BatchItem:
    """One input of :meth:`Analyzer.analyze_batch`: its result, or the error that stopped it.

    Attributes:
        source: the input's name (its path, or ``"<array>#i"``/``"<bytes>#i"`` by position).
        result: the analysis; ``None`` when ``error`` is set.
        error: why this input could not be analysed (an :class:`~mien.errors.ImageError` for
            an unreadable file, or any unexpected exception); ``None`` on success.
        image: the decoded ``(H, W, 3)`` uint8 BGR image with ``keep_images=True``.
    """

    source: str
    result: FrameResult | None
    error: Exception | None = None
    image: ImageBGR | None = None


def _source_name(image: object, position: int | None = None) -> str:
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    if isinstance(image, Image.Image) and getattr(image, "filename", ""):
        return str(image.filename)  # opened from a file: its path
    if isinstance(image, Image.Image):
        kind = "<PIL.Image>"
    elif isinstance(image, (bytes, bytearray, memoryview)):
        kind = "<bytes>"
    elif isinstance(image, np.ndarray):
        kind = "<array>"
    else:
        kind = f"<{type(image).__name__}>"
    return kind if position is None else f"{kind}#{position}"


class Analyzer:
    """Finds faces and classifies each one's perceived expression.

    Args:
        model: bundled expression model name (``mien.list_models()``).
        weights: your own ``.onnx`` file for that model (see :func:`mien.create_model`).
        detector: ``"auto"`` (BlazeFace short-range, a padded retry, then full-range; in
            :meth:`run`, full-range too where short-range finds fewer faces than the tracks seen
            within the last half second, and once a second (:data:`LOOK_WIDER_S`) anyway; see
            :mod:`mien.detection.mediapipe`), ``"short"``, ``"full"``, ``"multi"`` (both ranges on
            every image, for faces of mixed sizes) or ``"tiled"`` (``multi`` plus short-range on
            tiles of large images: group scenes, blurring); or a
            :class:`~mien.detection.FaceDetector` (``detect(image) -> Faces`` with keypoints, and
            ``close()``).
        min_confidence: detector score threshold in ``[0, 1]`` (MediaPipe's own floor is 0.5:
            lower values act as 0.5).
        max_pixels: largest image file (or Pillow image) accepted, in pixels (a
            decompression-bomb guard); arrays you pass are already in memory, so not capped.
        threads: onnxruntime threads for the expression model (``0`` = its default).
        quality: add the quality values of :mod:`mien.quality` to ``faces.data`` and mark a
            face ``abstained`` when ``quality_ok`` is false.
        pose: measure head pose with FaceMesh (about 5–7 ms per face on 2 CPU cores); without
            it the pose values are NaN and do not affect ``quality_ok``.
        pose_interval_s: in :meth:`run` (videos, streams), each track's head pose is measured
            at most once per this many seconds of media time and its rows in between carry the
            latest measurement (pose changes slowly; this keeps FaceMesh from dominating the
            frame time). ``0`` measures every face on every frame. Still images always measure.
        thresholds: the limits behind ``quality_ok``.

    An Analyzer may be shared between threads: their calls take turns (MediaPipe's graphs are
    not thread-safe). For work in parallel, give each thread its own Analyzer.

    Raises:
        UnknownModelError: unknown model name.
        UnknownDetectorError: unknown detector option.
        ValueError: a detector object without ``detect``/``close``, ``min_confidence`` not
            a number in ``[0, 1]``, ``max_pixels`` not a whole number >= 1, or a negative
            ``pose_interval_s``.
        TypeError: ``thresholds`` neither a :class:`~mien.quality.QualityThresholds` nor a
            dict of its fields.
        WeightsError: weights missing or corrupt, or a spec naming an unknown alignment.

    Example:
        >>> result = Analyzer().analyze("photo.jpg")
        >>> result.faces.xyxy, result.faces.expression  # (n, 4) pixels, (n, 8) probabilities
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        weights: str | Path | None = None,
        detector: DetectorModel | FaceDetector = "auto",
        min_confidence: float = 0.5,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int = 0,
        quality: bool = True,
        pose: bool = True,
        pose_interval_s: float = 0.2,
        thresholds: QualityThresholds | None = None,
    ) -> None:
        # checked before any model is built (NaN too)
        if not pose_interval_s >= 0:
            raise ValueError(f"pose_interval_s must be >= 0; got {pose_interval_s}")
        whole_number(max_pixels, "max_pixels", 1)
        if isinstance(thresholds, Mapping):
            thresholds = QualityThresholds(**thresholds)  # TypeError names an unknown key
        elif thresholds is not None and not isinstance(thresholds, QualityThresholds):
            raise TypeError(
                f"thresholds must be a QualityThresholds (or a dict of its fields); got "
                f"{type(thresholds).__name__}"
            )
        if isinstance(detector, str):
            check_detector_model(detector)
        if not isinstance(detector, str) and not (
            callable(getattr(detector, "detect", None))
            and callable(getattr(detector, "close", None))
        ):
            raise UnknownDetectorError(  # a ValueError, as a mode that is not one is
                f"detector must be one of {DETECTOR_MODELS} or an object with detect() and "
                f"close(); got {detector!r}"
            )
        self._lock = threading.RLock()  # MediaPipe graphs: one call at a time
        self.expression: ExpressionModel = create_model(model, weights=weights, threads=threads)
        self.template = TEMPLATES[self.expression.spec.alignment]  # checked by create_model
        self.detector: FaceDetector = (
            MediaPipeFaceDetector(detector, min_confidence=min_confidence)
            if isinstance(detector, str)
            else detector
        )
        self.max_pixels = max_pixels
        self.quality = quality
        self.thresholds = thresholds or QualityThresholds()
        self._pose = FaceMeshPose() if (quality and pose) else None
        self._upright = UprightCheck(threads=threads) if quality else None
        self.pose_interval_s = pose_interval_s

    @property
    def expression_names(self) -> tuple[str, ...]:
        """The expression labels, in the order of ``faces.expression``'s columns."""
        return self.expression.names

    @property
    def model_name(self) -> str:
        """The expression model's name (its spec's ``name``), as rows record it."""
        return self.expression.spec.name

    def analyze(
        self,
        image: ImageSource,
        *,
        source: str | None = None,
        frame_index: int = 0,
        timestamp_s: float = 0.0,
    ) -> FrameResult:
        """Every face in one image, with its calibrated expression probabilities.

        Args:
            image: a path, encoded bytes, a Pillow image, or an ``(H, W, 3)`` uint8 **BGR**
                array (``(H, W)`` grey accepted; an RGB array, as Pillow, imageio and
                matplotlib give, must be reversed first: ``rgb[..., ::-1]``). Paths, bytes
                and Pillow images are read by :func:`mien.io.read_image` (EXIF orientation
                applied; boxes refer to the upright image).
            source: name to record (defaults to the path, or ``"<array>"``/``"<bytes>"``/
                ``"<PIL.Image>"``).
            frame_index: index to record for a video frame.
            timestamp_s: presentation timestamp to record, a finite number of seconds.

        Returns:
            A :class:`~mien.types.FrameResult`; an image without faces gives empty ``Faces``.

        Raises:
            mien.errors.ImageError: the image cannot be read (subclass says why).
            ValueError: ``timestamp_s`` is not a finite number of seconds, or
                ``frame_index`` not a whole number >= 0.
            TypeError: ``source`` is neither a str nor a path.
        """
        timestamp_s = finite_seconds(timestamp_s, "Analyzer.analyze")
        frame_index = whole_number(frame_index, "frame_index")
        if isinstance(source, os.PathLike):
            source = os.fspath(source)
        if source is not None and not isinstance(source, str):
            raise TypeError(f"source must be a str (or a path); got {type(source).__name__}")
        source = _source_name(image) if source is None else source
        t0 = time.perf_counter()
        img = read_image(image, max_pixels=self.max_pixels, name=source)
        read_ms = (time.perf_counter() - t0) * 1e3
        return self._analyze_decoded(img, source, frame_index, timestamp_s, read_ms)

    def analyze_batch(
        self,
        images: Iterable[ImageSource],
        *,
        prefetch: int = 8,
        keep_images: bool = False,
    ) -> Iterator[BatchItem]:
        """Analyse many images in order, decoding ahead in a background thread.

        A file that cannot be read (or fails in any other way) yields an item with ``error``
        set, and the run goes on. Stopping early (``break``) stops the reader too. An error
        raised by ``images`` itself (a generator that fails) is raised after the items taken
        from it before the error have been yielded.

        Args:
            images: paths, encoded bytes, Pillow images or BGR arrays.
            prefetch: how many images may be decoded ahead (memory: up to ``prefetch`` images).
            keep_images: attach each decoded image to its item (e.g. to annotate it).

        Yields:
            One :class:`BatchItem` per input, in input order.

        Raises:
            ValueError: ``prefetch`` not a whole number >= 1 (at the call).
            TypeError: ``images`` is a single image (a path, bytes, a memoryview, a Pillow
                image or an array; at the call).
        """
        whole_number(prefetch, "prefetch", 1)
        if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike, np.ndarray)) or (
            isinstance(images, Image.Image)
        ):
            raise TypeError(
                "analyze_batch() takes an iterable of images; use analyze() for a single image"
            )
        return self._batch(images, prefetch, keep_images)

    def _batch(
        self, images: Iterable[ImageSource], prefetch: int, keep_images: bool
    ) -> Iterator[BatchItem]:
        """The generator behind :meth:`analyze_batch` (its arguments checked)."""

        def read(image: ImageSource, name: str) -> tuple[ImageBGR, float]:
            t0 = time.perf_counter()
            img = read_image(image, max_pixels=self.max_pixels, name=name)
            return img, (time.perf_counter() - t0) * 1e3

        sources = enumerate(images)
        window: deque[tuple[str, Future[tuple[ImageBGR, float]]]] = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mien-read") as pool:
            failure: list[Exception] = []  # the error of `images` itself, raised at the end

            def submit_next() -> None:
                if failure:
                    return
                try:
                    for position, image in sources:
                        name = _source_name(image, position)
                        window.append((name, pool.submit(read, image, name)))
                        return
                except Exception as err:
                    failure.append(err)

            for _ in range(prefetch):
                submit_next()
            try:
                while window:
                    name, future = window.popleft()
                    submit_next()
                    try:
                        img, read_ms = future.result()
                        result = self._analyze_decoded(img, name, 0, 0.0, read_ms)
                    except Exception as err:  # a batch never dies on one input
                        yield BatchItem(name, None, err)
                        continue
                    yield BatchItem(name, result, None, img if keep_images else None)
                if failure:
                    raise failure[0]
            finally:
                for _, future in window:
                    future.cancel()

    def run(
        self,
        frames: Iterable[Frame],
        *,
        tracker: FaceTracker | None = None,
        smoother: ExpressionSmoother | None = None,
        poses: dict[int, tuple[float, np.ndarray]] | None = None,
    ) -> Iterator[FrameResult]:
        """Analyse the frames of one video or stream in order, following faces across frames.

        Args:
            frames: :class:`~mien.types.Frame` objects, e.g. from :func:`mien.iter_frames` or
                :class:`mien.LiveStream` (wrap them in :func:`mien.io.prefetch` to decode in a
                background thread).
            tracker: assigns ``track_id``; a new :class:`~mien.tracking.FaceTracker` when
                ``None``. Its state outlives this generator: for the next video call
                ``reset()`` on it and on ``smoother`` (or pass new ones). A frame earlier than
                the last one seen (the clock went back) ends every track and smoothed state by
                itself; new track ids then go on counting, so no id spans the jump.
            smoother: fills ``faces.smoothed`` per track, and its ``upright`` averages the
                upright check per track (which ``quality_ok`` and ``abstained`` then follow);
                a new :class:`~mien.tracking.ExpressionSmoother` (τ = 0.5 s) when ``None``.
            poses: the head poses measured so far, per track (``{track_id: (timestamp_s,
                (3,) yaw/pitch/roll degrees)}``), filled in place; a track's pose is measured
                again once it is ``pose_interval_s`` old. A new dict when ``None``; pass one
                dict, with one tracker, when a stream is analysed a frame per call (as the
                service does), or FaceMesh runs on every frame.

        Yields:
            One :class:`~mien.types.FrameResult` per frame, in order; a frame without faces
            gives empty ``Faces`` (never a gap). Errors of the frame source propagate after the
            frames before them were yielded.

        Raises:
            TypeError: ``frames`` is a path, bytes or one frame rather than an iterable of
                frames (at the call), or holds something other than a ``Frame`` (at that
                item): decode a video with :func:`mien.iter_frames`.
            UnreadableImageError: a frame's image is not a uint8 ``(H, W)``, ``(H, W, 1)`` or
                ``(H, W, 3)`` array (grey frames are converted to BGR).
        """
        if isinstance(frames, (str, os.PathLike, bytes, bytearray, Frame, np.ndarray)):
            raise TypeError(
                f"run() takes an iterable of mien.Frame, not {type(frames).__name__}: "
                "decode a video with mien.iter_frames(path), or use analyze() for an image"
            )
        return self._run(frames, tracker=tracker, smoother=smoother, poses=poses)

    def _run(
        self,
        frames: Iterable[Frame],
        *,
        tracker: FaceTracker | None,
        smoother: ExpressionSmoother | None,
        poses: dict[int, tuple[float, np.ndarray]] | None,
    ) -> Iterator[FrameResult]:
        tracker = FaceTracker() if tracker is None else tracker
        smoother = ExpressionSmoother() if smoother is None else smoother
        poses = {} if poses is None else poses  # track id -> (measured at, angles)
        looked_wider: float | None = None  # when the detector last looked wider
        for frame in frames:
            if not isinstance(frame, Frame):
                raise TypeError(
                    f"run() takes mien.Frame items, not {type(frame).__name__}: decode a video "
                    "with mien.iter_frames(path), or use analyze_batch() for image files"
                )
            # a frame built by hand may hold a grey array: the same checks and conversions
            # as analyze() (no copy for the BGR frames of iter_frames)
            image = read_image(frame.image, name=f"{frame.source} frame {frame.index}")
            t = frame.timestamp_s
            damaged = frame.damaged_from_s is not None  # data left out just before it
            # once a second the detector looks wider: a face short-range never found is never
            # tracked, so the tracks alone never ask for it
            wider = looked_wider is None or not 0 <= t - looked_wider < LOOK_WIDER_S
            looked_wider = t if wider else looked_wider
            result = self._analyze_decoded(
                image,
                frame.source,
                frame.index,
                t,
                0.0,
                with_pose=False,
                expected=tracker.recent_count(),
                wider=wider,
            )
            t0 = time.perf_counter()
            faces = tracker.update(
                result.faces, frame.timestamp_s, result.image_wh, after_damage=damaged
            )
            if "upright" in faces.data:  # one frame's dip in the upright check: averaged out
                faces = self._requalify(smoother.upright.update(faces, frame.timestamp_s))
            t1 = time.perf_counter()
            if self.quality and self._pose is not None and len(faces):
                with self._lock:
                    faces = self._track_pose(image, faces, frame.timestamp_s, poses)
                result.timings_ms["quality"] += (time.perf_counter() - t1) * 1e3
            t2 = time.perf_counter()
            faces = smoother.update(faces, frame.timestamp_s)
            result.timings_ms["track"] = (t1 - t0 + time.perf_counter() - t2) * 1e3
            del result.timings_ms["read"]
            yield dataclasses.replace(result, faces=faces, damaged_from_s=frame.damaged_from_s)

    def _requalify(self, faces: Faces) -> Faces:
        """``quality_ok`` and ``abstained`` again from ``faces.data`` (after the upright check
        was averaged per track): abstained where the expression model abstains or the face
        fails the quality checks (head pose not yet measured, as in :meth:`_assess`)."""
        ok = quality_ok({**faces.data, "pose_attempted": False}, self.thresholds)
        abstained = self.expression.abstained(faces.expression)
        return dataclasses.replace(
            faces, abstained=abstained | ~ok, data={**faces.data, "quality_ok": ok}
        )

    def _track_pose(
        self,
        img: ImageBGR,
        faces: Faces,
        timestamp_s: float,
        poses: dict[int, tuple[float, np.ndarray]],
    ) -> Faces:
        """Fill yaw/pitch/roll of tracked faces, measuring only tracks whose last measurement
        is ``pose_interval_s`` old (or missing), then recompute ``quality_ok``."""
        assert faces.track_id is not None and faces.abstained is not None
        ids = [int(t) for t in faces.track_id]
        due = [
            i
            for i, tid in enumerate(ids)
            # within a microsecond counts as due: 0.6 - 0.4 is 0.19999999999999996, so the
            # schedule depended on where the clock starts (60.6 - 60.4 is over 0.2)
            if not (tid in poses and 0 <= timestamp_s - poses[tid][0] < self.pose_interval_s - 1e-6)
        ]
        if due:
            assert self._pose is not None
            measured = self._pose.estimate(img, faces.xyxy[due])
            for row, i in enumerate(due):
                poses[ids[i]] = (timestamp_s, measured[row])
        keep_s = max(5.0, self.pose_interval_s)
        for tid in [
            t for t, (at, _) in poses.items() if t not in ids and not 0 <= timestamp_s - at < keep_s
        ]:
            del poses[tid]  # tracks gone for a while (or a new video's clock)
        angles = np.stack([poses[tid][1] for tid in ids]).astype(np.float32)
        data = {**faces.data, "yaw": angles[:, 0], "pitch": angles[:, 1], "roll": angles[:, 2]}
        data["quality_ok"] = quality_ok({**data, "pose_attempted": True}, self.thresholds)
        return dataclasses.replace(
            faces, abstained=faces.abstained | ~data["quality_ok"], data=data
        )

    def _analyze_decoded(
        self,
        img: ImageBGR,
        source: str,
        frame_index: int,
        timestamp_s: float,
        read_ms: float,
        *,
        with_pose: bool = True,
        expected: int = 0,
        wider: bool = False,
    ) -> FrameResult:
        with self._lock:  # the MediaPipe graphs: one call at a time
            t1 = time.perf_counter()
            faces = (
                self.detector.detect(img, expected=expected, wider=wider)
                if (expected or wider) and isinstance(self.detector, MediaPipeFaceDetector)
                else self.detector.detect(img)
            )
            t2 = time.perf_counter()
            spec = self.expression.spec
            crops, _ = align_faces(
                img, faces, size=spec.input_size, grey=spec.grey, template=self.template
            )
            t3 = time.perf_counter()
            faces = self._classify(faces, crops)
            t4 = time.perf_counter()
            image_wh = (img.shape[1], img.shape[0])
            if self.quality:
                faces = self._assess(img, faces, crops, image_wh, with_pose=with_pose)
            return FrameResult(
                faces=faces,
                frame_index=frame_index,
                timestamp_s=timestamp_s,
                image_wh=(img.shape[1], img.shape[0]),
                source=source,
                expression_names=self.expression_names,
                abstain_threshold=spec.abstain_threshold,
                model=self.model_name,
                timings_ms={
                    "read": read_ms,
                    "detect": (t2 - t1) * 1e3,
                    "align": (t3 - t2) * 1e3,
                    "expression": (t4 - t3) * 1e3,
                    "quality": (time.perf_counter() - t4) * 1e3,
                },
            )

    def _assess(
        self,
        img: ImageBGR,
        faces: Faces,
        crops: np.ndarray,
        image_wh: tuple[int, int],
        *,
        with_pose: bool = True,
    ) -> Faces:
        pose = (
            self._pose.estimate(img, faces.xyxy)
            if with_pose and self._pose is not None and len(faces)
            else None
        )
        spec = self.expression.spec
        if spec.input_size != QUALITY_CROP_SIDE or not spec.grey:  # quality reads 48 px grey
            crops, _ = align_faces(img, faces, size=QUALITY_CROP_SIDE, template=self.template)
        upright = self._upright.upright(crops) if self._upright is not None else None
        values = assess(faces.xyxy, crops, image_wh, pose, self.thresholds, upright)
        abstained = faces.abstained if faces.abstained is not None else np.zeros(len(faces), bool)
        return dataclasses.replace(
            faces, abstained=abstained | ~values["quality_ok"], data={**faces.data, **values}
        )

    def crop_quality(self, image: ImageSource) -> dict[str, float | bool]:
        """Quality values of a whole (pre-cropped) image taken as one face (the box is the
        whole image, so ``truncated`` is false by definition; ``upright`` is not measured:
        NaN, as the check reads crops aligned on the eyes)."""
        img = read_image(image, max_pixels=self.max_pixels)
        h, w = img.shape[:2]
        box = np.array([[0, 0, w, h]], np.float32)
        with self._lock:
            pose = self._pose.estimate(img, box) if self._pose is not None else None
        crop = crop_whole_image(img, size=QUALITY_CROP_SIDE)[None]
        # no upright check: it reads crops aligned on the eyes, and this one is not (on whole
        # Taiwanese portraits it called half of them turned); ``upright`` is NaN
        values = assess(box, crop, (w, h), pose, self.thresholds)
        values["truncated"] = np.zeros(1, bool)  # the crop is the face, not cut by a frame
        if not self.thresholds.allow_truncated:  # a box on the border would fail it
            values["quality_ok"] = quality_ok(
                {**values, "pose_attempted": pose is not None}, self.thresholds
            )
        return {k: v[0].item() for k, v in values.items()}

    def whole_image_crop(self, image: ImageSource) -> np.ndarray:
        """The model input for a whole (pre-cropped) image: read it, convert it to the model's
        colour form and resize it to its input size; no detector, no alignment.

        Returns:
            ``(S, S)`` uint8 grey (or ``(S, S, 3)`` BGR for a colour model).

        Raises:
            mien.errors.ImageError: the image cannot be read.
        """
        spec = self.expression.spec
        img = read_image(image, max_pixels=self.max_pixels)
        return crop_whole_image(img, size=spec.input_size, grey=spec.grey)

    def classify_crop(self, image: ImageSource) -> np.ndarray:
        """Classify a whole image as one already-cropped face (see :meth:`whole_image_crop`).

        Returns:
            ``(K,)`` float32 calibrated probabilities.
        """
        return self.expression.predict(self.whole_image_crop(image)[None])[0]

    def _classify(self, faces: Faces, crops: np.ndarray) -> Faces:
        probs = self.expression.predict(crops)
        return dataclasses.replace(
            faces, expression=probs, abstained=self.expression.abstained(probs)
        )

    def warm_up(self) -> None:
        """Build every model now (MediaPipe graphs are otherwise built on first use)."""
        with self._lock:
            self.detector.detect(np.zeros((64, 64, 3), np.uint8))
            if self._pose is not None:
                self._pose.warm_up()

    def close(self) -> None:
        """Free the detector's (and the pose model's) resources. A closed analyzer still
        works: it builds them again when next used (and holds them until closed again)."""
        with self._lock:
            self.detector.close()
            if self._pose is not None:
                self._pose.close()

    def __reduce__(self) -> Any:
        """Refused: an Analyzer holds MediaPipe graphs and an onnxruntime session.

        Raises:
            TypeError: always; the message says how to use one per process.
        """
        raise TypeError(
            "an Analyzer cannot be pickled (it holds MediaPipe graphs and an onnxruntime "
            "session): create one in each worker process, e.g. in a multiprocessing Pool "
            "initializer, or use `mien batch` / mien.batch.run_batch"
        )

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
