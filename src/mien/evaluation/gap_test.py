"""Is a worst-slice gap larger than chance? A permutation test for the per-group audit.

With several groups, the largest minus the smallest accuracy is biased upward: even when the
model treats every group alike, some group scores highest by chance, and the more (and the
smaller) the groups, the larger that chance gap. A Wilson interval per slice does not say how
large it would be. The permutation test does: it shuffles which group each image (or each
person) belongs to, keeping the group sizes, recomputes the worst gap each time, and reports
how often the shuffled gap is at least the observed one (Good, *Permutation, Parametric and
Bootstrap Tests of Hypotheses*, 3rd ed., 2005, ch. 3; the ``(1 + hits) / (1 + n_perm)``
estimate of Phipson & Smyth, *Stat. Appl. Genet. Mol. Biol.* 9(1), 2010, never 0).

Two statistics, each with its own null hypothesis:

* ``p_gap``, the worst gap in accuracy: "which group an image belongs to is unrelated to
  whether it is read right". A group that posed more of the easy labels can break this null
  without the model treating its faces any differently.
* ``p_beyond_label_mix``, the worst gap in ``accuracy − expected_accuracy`` (see
  :mod:`mien.evaluation.runner`): "given its label, an image's group is unrelated to whether it
  is read right". With images as the unit the shuffle stays within each true label, so every
  group keeps its label mix.

What is shuffled: images, or, when a person column is given (``units``), it depends on the
design. Images of one person are not independent, so shuffling images between groups makes one
person's bad day look like a group effect (a p far too small).

* Each person in one group (a self-reported group column): whole persons are shuffled between
  groups (``"unit": "person"``).
* A person's images in several groups (a within-person factor such as posed vs spontaneous, or
  the quality bins): each person's images are shuffled among that person's own groups
  (``"unit": "image within person"``), so every person keeps their images and how many fall
  in each group; for the label-mix statistic, only among that person's images of one label.
  A person whose images all fall in one group then adds nothing to the test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_CHUNK = 64  # permutations computed at once (memory: chunk times images)


def _gaps(
    assign: np.ndarray, correct: np.ndarray, base: np.ndarray, n_slices: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(b,)`` worst gaps in accuracy and in accuracy − expected, for ``(b, m)`` slice indices.

    ``base`` is each image's expected hit (the set-wide recall of its label). A slice left
    empty by a shuffle (possible with persons as the unit) is left out of that shuffle's gap.
    """
    b = assign.shape[0]
    flat = (np.arange(b)[:, None] * n_slices + assign).ravel()
    size = b * n_slices
    count = np.bincount(flat, minlength=size).reshape(b, n_slices).astype(np.float64)
    hits = np.bincount(flat, weights=np.tile(correct, b), minlength=size).reshape(b, n_slices)
    expect = np.bincount(flat, weights=np.tile(base, b), minlength=size).reshape(b, n_slices)
    filled = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(filled, hits / count, np.nan)
        excess = np.where(filled, (hits - expect) / count, np.nan)
    return (
        np.nanmax(acc, axis=1) - np.nanmin(acc, axis=1),
        np.nanmax(excess, axis=1) - np.nanmin(excess, axis=1),
    )


def gap_permutation_test(
    slice_index: npt.NDArray[np.integer],
    correct: npt.NDArray[np.bool_],
    y_true: npt.NDArray[np.integer],
    recall: npt.NDArray[np.floating],
    *,
    units: npt.ArrayLike | None = None,
    n_perm: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Permutation p-values of the worst-slice gap and of the gap beyond the label mix.

    Args:
        slice_index: ``(n,)`` int, the slice (0 … S − 1) of each image in the gap, ``-1`` for
            an image outside it (a blank value, an unmeasured bin, a slice below the minimum
            size); those images are left out of the test.
        correct: ``(n,)`` bool, whether each image was read right (no prediction: wrong).
        y_true: ``(n,)`` int, each image's true label index (0 … K − 1).
        recall: ``(K,)`` float, the whole set's per-label recall (``nan`` for a label with no
            image is read as 0); an image's expected hit is its label's recall.
        units: ``(n,)`` person (or session) key per image, or ``None`` for images as the
            unit. Blank keys (``""`` or ``None``) are left out.
        n_perm: shuffles (>= 1).
        seed: seeds the shuffles.

    Returns:
        ``{"method": "permutation", "n_perm", "unit": "image" | "person" | "image within
        person", "p_gap", "p_beyond_label_mix", "reason"}``: the p-values in ``(0, 1]``,
        ``None`` (with a ``reason``) when there are fewer than two slices, or fewer than two
        persons to shuffle between them.

    Raises:
        ValueError: if the arrays' lengths differ or ``n_perm < 1``.
    """
    slice_index = np.asarray(slice_index, np.int64)
    correct = np.asarray(correct, bool)
    y_true = np.asarray(y_true, np.int64)
    n = len(slice_index)
    if len(correct) != n or len(y_true) != n or (units is not None and len(units) != n):
        raise ValueError("slice_index, correct, y_true and units must have one value per image")
    if n_perm < 1:
        raise ValueError(f"n_perm must be at least 1, got {n_perm}")
    result: dict[str, Any] = {
        "method": "permutation",
        "n_perm": n_perm,
        "unit": "image" if units is None else "person",
        "p_gap": None,
        "p_beyond_label_mix": None,
        "reason": None,
    }
    keep = slice_index >= 0
    if units is not None:
        units = np.asarray(units, dtype=object)
        keep &= ~((units == "") | (units == None))  # noqa: E711
    slices, assign = np.unique(slice_index[keep], return_inverse=True)
    if len(slices) < 2:
        result["reason"] = "fewer than two slices in the gap"
        return result
    hit = correct[keep].astype(np.float64)
    label = y_true[keep]
    base = np.nan_to_num(np.asarray(recall, np.float64))[label]
    observed = _gaps(assign[None], hit, base, len(slices))
    rng = np.random.default_rng(seed)

    def within(strata: np.ndarray, b: int) -> np.ndarray:
        """``(b, m)`` slice indices shuffled among the images of each stratum (``(m,)`` int):
        sorting by stratum plus a random fraction orders each row by stratum, randomly within
        one, and the images in stratum order take those rows' slices."""
        ordered = np.argsort(strata, kind="stable")
        order = np.argsort(strata + rng.random((b, len(strata))), axis=1)
        out = np.empty((b, len(strata)), np.int64)
        out[:, ordered] = assign[order]
        return out

    if units is None:
        everyone = np.zeros(len(assign), np.int64)

        def shuffles(b: int) -> tuple[np.ndarray, np.ndarray]:
            return within(everyone, b), within(label, b)

    else:
        person, person_of = np.unique(units[keep].astype(str), return_inverse=True)
        group_of = np.full(len(person), -1)
        group_of[person_of] = assign
        if np.all(group_of[person_of] == assign):  # each person in one slice: move persons
            if len(person) < 2:
                result["reason"] = "fewer than two persons in the gap"
                return result

            def shuffles(b: int) -> tuple[np.ndarray, np.ndarray]:
                moved = rng.permuted(np.broadcast_to(group_of, (b, len(group_of))), axis=1)[
                    :, person_of
                ]
                return moved, moved

        else:  # persons in several slices: shuffle each person's images among their slices
            result["unit"] = "image within person"
            by_label = person_of * (int(label.max()) + 1) + label

            def shuffles(b: int) -> tuple[np.ndarray, np.ndarray]:
                return within(person_of, b), within(by_label, b)

    above = np.zeros(2, np.int64)
    done = 0
    while done < n_perm:
        b = min(_CHUNK, n_perm - done)
        for_gap, for_beyond = shuffles(b)
        above[0] += int(np.sum(_gaps(for_gap, hit, base, len(slices))[0] >= observed[0] - 1e-12))
        above[1] += int(np.sum(_gaps(for_beyond, hit, base, len(slices))[1] >= observed[1] - 1e-12))
        done += b
    result["p_gap"], result["p_beyond_label_mix"] = ((1 + above) / (1 + n_perm)).tolist()
    return result


__all__ = ["gap_permutation_test"]
