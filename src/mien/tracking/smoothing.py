"""Per-track temporal smoothing of expression probabilities, and of the upright check.

Method: an exponential moving average in media time. For a track seen at times t₀ < t₁ < …,
``s_k = (1 − α_k) s_{k−1} + α_k p_k`` with ``α_k = 1 − exp(−(t_k − t_{k−1}) / τ)`` and
``s_0 = p_0``. Because α depends on the elapsed time, the same ``τ`` (seconds) gives the same
smoothing at any frame rate or sampling; a frame 1/30 s after the previous one with τ = 0.5 s
weighs ≈ 6.4 %. The mean of probability vectors is itself a probability vector. The raw
per-frame probabilities are always kept beside the smoothed ones.

A frame whose reading failed the quality checks (``faces.data["quality_ok"]`` false: a face
turned on its side, in profile, blurred, not found by FaceMesh) does not enter the average: its
smoothed value is the track's average so far, held, and the next good frame is weighed by the
time since the last good one. Without this, a face lying on its side for two seconds left its
misread (sadness, for a neutral face) in the smoothed label, and in ``ps_*`` well after the
face was upright again. A track whose first frames fail has no average yet, and one whose last
good frame is ``forget_s`` old has lost it: such frames get their own probabilities, which are
not kept.

The upright check's probability is averaged per track too (:class:`UprightSmoother`), as the
log-odds' moving average in media time with a short time constant: a face's turn within a
track seldom changes, while one frame's reading of it dips now and then (a face moving
through H.264 video was called turned in 1-5 % of frames at 100-130 px, one frame at a time).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mien.types import Faces, finite_seconds

UPRIGHT_TAU_S = 0.2
"""Time constant, seconds, of the upright check's per-track average: a turn (readings of
0.02 after a long-upright track's 0.99) is called at its third frame at 15 fps (0.2 s), one
frame's dip is not (:class:`UprightSmoother`)."""


class UprightSmoother:
    """Average ``faces.data["upright"]`` per ``track_id`` over time.

    Method: the moving average of the log-odds ``z = log(p / (1 - p))`` in media time, as
    :class:`ExpressionSmoother` averages probabilities (``α = 1 − exp(−Δt / τ)``), read back
    as a probability. A NaN reading (not measured) is passed through and not averaged.

    Args:
        tau_s: time constant in seconds (``0``: each frame's own reading).
        forget_s: a track's average is dropped after this long without a reading.

    Raises:
        ValueError: negative ``tau_s`` or non-positive ``forget_s`` (NaN for either).
    """

    def __init__(self, tau_s: float = UPRIGHT_TAU_S, *, forget_s: float = 5.0) -> None:
        if not tau_s >= 0:
            raise ValueError(f"tau_s must be >= 0; got {tau_s}")
        if not forget_s > 0:
            raise ValueError(f"forget_s must be > 0; got {forget_s}")
        self.tau_s = tau_s
        self.forget_s = forget_s
        self.reset()

    def reset(self) -> None:
        """Forget every track's average."""
        self._state: dict[int, tuple[float, float]] = {}  # track id -> (t, log-odds)
        self._last_t: float | None = None

    def update(self, faces: Faces, timestamp_s: float) -> Faces:
        """Returns ``faces`` with ``data["upright"]`` (``(n,)`` float32, 0-1) each track's
        average so far (``faces`` as given where there is no ``upright`` or ``track_id``). A
        time earlier than the previous frame's starts afresh, as :meth:`reset` does.

        Raises:
            ValueError: a ``timestamp_s`` that is not a finite number.
        """
        t = finite_seconds(timestamp_s, "UprightSmoother.update")
        if "upright" not in faces.data or faces.track_id is None or self.tau_s == 0:
            return faces
        if self._last_t is not None and t < self._last_t:
            self.reset()
        self._last_t = t
        self._state = {k: v for k, v in self._state.items() if t - v[0] <= self.forget_s}
        raw = np.asarray(faces.data["upright"], np.float64)
        out = raw.copy()
        for i, tid in enumerate(faces.track_id.tolist()):
            if not np.isfinite(raw[i]):
                continue
            p = min(max(raw[i], 1e-6), 1 - 1e-6)
            z = math.log(p / (1 - p))
            previous = self._state.get(tid)
            if previous is not None:
                alpha = 1.0 - math.exp(-max(t - previous[0], 0.0) / self.tau_s)
                z = (1.0 - alpha) * previous[1] + alpha * z
            self._state[tid] = (t, z)
            out[i] = 1.0 / (1.0 + math.exp(-z))
        return dataclasses.replace(faces, data={**faces.data, "upright": out.astype(np.float32)})


class ExpressionSmoother:
    """Smooth ``faces.expression`` per ``track_id`` into ``faces.smoothed``; its
    :attr:`upright` averages the upright check per track (:class:`UprightSmoother`).

    Args:
        tau_s: time constant in seconds (``0`` disables smoothing: smoothed = raw; the
            upright check stays averaged, by ``upright_tau_s``).
        forget_s: drop a track's state when it has had no good frame (``quality_ok``) for
            this long.
        upright_tau_s: the upright check's time constant, seconds (:data:`UPRIGHT_TAU_S`;
            ``0``: each frame's own reading).

    Raises:
        ValueError: negative ``tau_s`` or ``upright_tau_s``, or non-positive ``forget_s``
            (NaN for any).
    """

    def __init__(
        self, tau_s: float = 0.5, *, forget_s: float = 5.0, upright_tau_s: float = UPRIGHT_TAU_S
    ) -> None:
        if not tau_s >= 0:  # NaN too: it made every smoothed row NaN
            raise ValueError(f"tau_s must be >= 0; got {tau_s}")
        if not forget_s > 0:  # NaN too: it turned smoothing off without a word
            raise ValueError(f"forget_s must be > 0; got {forget_s}")
        self.tau_s = tau_s
        self.forget_s = forget_s
        self.upright = UprightSmoother(upright_tau_s, forget_s=forget_s)
        self.reset()

    def reset(self) -> None:
        """Forget every track's state (the upright averages too)."""
        self._state: dict[int, tuple[float, np.ndarray]] = {}
        self._last_t: float | None = None
        self.upright.reset()

    def update(self, faces: Faces, timestamp_s: float) -> Faces:
        """Returns ``faces`` with ``smoothed`` set (``(n, K)`` float32, rows sum to 1).

        ``timestamp_s`` (seconds) is non-decreasing within one video or stream; a time earlier
        than the previous frame's starts afresh, as :meth:`reset` does (one video's expression
        is not carried into the next).

        Raises:
            ValueError: faces without ``expression`` or ``track_id``; a ``timestamp_s`` that
                is not a finite number.
        """
        if faces.expression is None or faces.track_id is None:
            raise ValueError("smoothing needs faces with expression and track_id")
        t = finite_seconds(timestamp_s, "ExpressionSmoother.update")
        if self._last_t is not None and t < self._last_t:  # the expression state only: the
            self._state = {}  # upright averages start afresh themselves, and this frame's
            # reading was just averaged in
        self._last_t = t
        self._state = {k: v for k, v in self._state.items() if t - v[0] <= self.forget_s}
        out = np.empty_like(faces.expression)
        ok = faces.data.get("quality_ok")
        for i, (tid, p) in enumerate(zip(faces.track_id.tolist(), faces.expression, strict=True)):
            previous = self._state.get(tid)
            if ok is not None and not ok[i] and self.tau_s > 0:  # unreliable: held, not averaged
                out[i] = previous[1] if previous is not None else p / p.sum()
                continue
            if previous is None or self.tau_s == 0:
                s = p.astype(np.float64)
            else:
                alpha = 1.0 - math.exp(-max(t - previous[0], 0.0) / self.tau_s)
                s = (1.0 - alpha) * previous[1] + alpha * p
            s = s / s.sum()
            self._state[tid] = (t, s)
            out[i] = s
        return dataclasses.replace(faces, smoothed=out)
