"""Is a worst-slice gap larger than chance? A permutation test for the per-group audit.

With several groups, the largest minus the smallest accuracy is biased upward: even when the
model treats every group alike, some group scores highest by chance, and the more (and the
smaller) the groups, the larger that chance gap. A Wilson interval per slice does not say how
large it would be. The permutation test does: it shuffles which group each image (or each
person) belongs to, keeping the group sizes (in images, or in persons), recomputes the worst
gap each time, and reports how often the shuffled gap is at least the observed one (Good,
*Permutation, Parametric and Bootstrap Tests of Hypotheses*, 3rd ed., 2005, ch. 3; the
``(1 + hits) / (1 + n_perm)`` estimate of Phipson & Smyth, *Stat. Appl. Genet. Mol. Biol.*
9(1), 2010, never 0).

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

* Persons each in one group (a self-reported group column): whole persons are shuffled
  between groups (``"unit": "person"``), keeping how many persons each group has.
* A person's images in several groups (a within-person factor such as posed vs spontaneous, or
  the quality bins): that person's images are shuffled among that person's own groups
  (``"image within person"``), so every such person keeps their images and how many fall in
  each group; for the label-mix statistic, only among that person's images of one label.
* Both kinds in one column (most persons in one group, a few in two): both shuffles at once
  (``"person and image within person"``), so one person entered in two groups does not take
  the test's power away from the others.

An image with no person (a blank value) is a unit of its own, as the reported gap takes it.
With few persons the smallest p a test can give is large (2 persons per group, perfectly
apart: 1/3 of the assignments give the same gap). ``p_floor`` reports it: one over the
number of distinct assignments the shuffle can make, slices of one size swapped counting once
(they give the same gaps), below which no p is possible however large the gap. Where there
are no more assignments than shuffles asked for, every one is scored and the p is exact
(``exact``); where a shuffle can only rename slices (each slice one person), there is no
test.
"""

from __future__ import annotations

from itertools import combinations
from math import exp, lgamma, log
from typing import Any

import numpy as np
import numpy.typing as npt

_CHUNK = 64  # permutations computed at once, at most
_CELLS = 2_000_000  # shuffled slice values held at once (memory: some 50 bytes each)


def blank_values(values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """``(n,)`` bool: the blank entries of a column of values: ``""`` (or only spaces),
    ``None`` and NaN (a pandas column's missing value)."""
    return np.asarray(
        [
            v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v)
            for v in np.asarray(values, dtype=object).ravel()
        ],
        bool,
    )


def _log_assignments(
    strata: np.ndarray,
    assign: np.ndarray,
    *,
    alike: bool = False,
    fixed: np.ndarray | None = None,
) -> float:
    """log of the number of distinct ways to shuffle ``assign`` (slice indices) within each
    stratum: the product over strata of the multinomial coefficient of their slice counts.

    With ``alike``, assignments that differ only by swapping slices of the same size (the
    same count in every stratum) count once: they give the same gaps, since a gap does not
    depend on a slice's name (2 persons in each of 2 slices: 6 assignments, 3 distinct).
    ``fixed``: per slice index, whether it also holds images the shuffle leaves in place
    (a person alone in one slice); such a slice is like no other."""
    if len(assign) == 0:
        return 0.0
    pairs = np.unique(np.stack([strata, assign]), axis=1, return_counts=True)[1]
    sizes = np.bincount(np.unique(strata, return_inverse=True)[1])
    out = float(sum(lgamma(n + 1) for n in sizes) - sum(lgamma(c + 1) for c in pairs))
    if alike:
        s_of = np.unique(strata, return_inverse=True)[1]
        n_slices = max(int(assign.max()) + 1, 0 if fixed is None else len(fixed))
        counts = np.zeros((n_slices, int(s_of.max()) + 2), np.int64)
        np.add.at(counts, (assign, s_of), 1)
        if fixed is not None:  # its own mark: swapped, it would take other fixed images
            counts[: len(fixed), -1] = np.where(fixed, np.arange(1, len(fixed) + 1), 0)
        counts = counts[counts[:, :-1].sum(1) > 0]  # a slice no shuffled image is in: no part
        same = np.unique(counts, axis=0, return_counts=True)[1]
        out -= float(sum(lgamma(c + 1) for c in same))
    return max(out, 0.0)


def _multiset_orders(values: np.ndarray) -> np.ndarray:
    """``(K, n)``: every distinct ordering of the multiset ``values`` (``(n,)``)."""
    kinds, counts = np.unique(values, return_counts=True)
    out: list[np.ndarray] = []
    # each step places every copy of one kind on some of the positions still free
    stack = [(tuple(range(len(values))), 0, np.empty(len(values), values.dtype))]
    while stack:
        free, k, current = stack.pop()
        if k == len(kinds) - 1:
            current[list(free)] = kinds[k]
            out.append(current)
            continue
        for chosen in combinations(free, int(counts[k])):
            nxt = current.copy()
            nxt[list(chosen)] = kinds[k]
            taken = set(chosen)
            stack.append((tuple(p for p in free if p not in taken), k + 1, nxt))
    return np.asarray(out)


def _arrangements(strata: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``(K, len(values))``: every distinct rearrangement of ``values`` within each stratum
    (the values of one stratum permuted among its positions). K is the product of the
    strata's multinomial coefficients: call it only when small."""
    rows = np.asarray(values)[None].copy()
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        within = _multiset_orders(values[idx])  # (k_s, n_s)
        rows = np.repeat(rows, len(within), axis=0)
        rows[:, idx] = np.tile(within, (len(rows) // len(within), 1))
    return rows


def _floor(log_count: float) -> float:
    """``1 / exp(log_count)``, the smallest p a shuffle over that many assignments can give
    (a count small enough to be exact is rounded to its integer first: 1/3, not 0.333…31)."""
    if log_count < 30:
        return 1 / max(1, round(exp(log_count)))
    return exp(-log_count) if log_count < 700 else 0.0


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
            unit. An image with a blank key (``""``, ``None`` or NaN) is a unit of its own.
        n_perm: shuffles (>= 1).
        seed: seeds the shuffles.

    Returns:
        ``{"method": "permutation", "n_perm", "unit": "image" | "person" | "image within
        person" | "person and image within person", "p_gap", "p_beyond_label_mix",
        "p_floor", "reason"}``: the p-values in ``(0, 1]``, ``None`` (with a ``reason``) when
        there are fewer than two slices, or nothing to shuffle (one person, in one slice).
        ``p_floor`` is ``{"gap": float, "beyond_label_mix": float}``: 1 / the number of
        distinct assignments each shuffle can make (persons moved whole count once each;
        slices of one size swapped count once, except where persons are moved whole and
        other persons' images shuffled too, where the floor is a lower bound), the smallest
        p this design can give whatever the gap; about 0 for large designs. Each p is at
        least its floor. ``exact`` is ``{"gap": K | None, "beyond_label_mix": K | None}``:
        the number of assignments scored when there were no more than ``n_perm`` of them
        (the p is then exact: the share of all assignments with a gap at least the
        observed one, itself included), else ``None``. No test (``reason``) where no
        shuffle can change which images share a slice.

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
        "p_floor": None,
        "reason": None,
    }
    keep = slice_index >= 0
    slices, assign = np.unique(slice_index[keep], return_inverse=True)
    if len(slices) < 2:
        result["reason"] = "fewer than two slices in the gap"
        return result
    m = len(assign)
    hit = correct[keep].astype(np.float64)
    label = y_true[keep]
    base = np.nan_to_num(np.asarray(recall, np.float64))[label]
    observed = _gaps(assign[None], hit, base, len(slices))
    rng = np.random.default_rng(seed)

    def within(idx: np.ndarray, strata: np.ndarray, b: int) -> np.ndarray:
        """``(b, len(idx))`` slices of the images ``idx`` shuffled among the images of each
        stratum (``strata``, one int per image of ``idx``): sorting by stratum plus a random
        fraction orders each row by stratum, randomly within one, and the images in stratum
        order take those rows' slices."""
        ordered = np.argsort(strata, kind="stable")
        order = np.argsort(strata + rng.random((b, len(idx))), axis=1)
        out = np.empty((b, len(idx)), np.int64)
        out[:, ordered] = assign[idx][order]
        return out

    designs: list[tuple[np.ndarray, np.ndarray]] | None
    fixed: np.ndarray | None = None  # per slice: holds images no shuffle moves
    if units is None:
        everyone = np.arange(m)

        def shuffles(b: int) -> tuple[np.ndarray, np.ndarray]:
            return within(everyone, np.zeros(m, np.int64), b), within(everyone, label, b)

        def expand(rows: np.ndarray) -> np.ndarray:
            return rows

        designs = [(np.zeros(m, np.int64), assign), (label, assign)]

    else:
        raw = np.asarray(units, dtype=object)[keep]
        blank = blank_values(raw)
        # an image with no person is a unit of its own, as the reported gap takes it
        names = np.where(blank, [f"\0image {i}" for i in range(m)], raw.astype(str))
        person_of = np.unique(names, return_inverse=True)[1]
        n_persons = int(person_of.max()) + 1
        lo = np.full(n_persons, len(slices))
        hi = np.full(n_persons, -1)
        np.minimum.at(lo, person_of, assign)
        np.maximum.at(hi, person_of, assign)
        single = np.flatnonzero(lo == hi)  # persons in one slice: moved whole between slices
        movers = single if len(single) >= 2 else single[:0]
        moved_images = np.flatnonzero(np.isin(person_of, movers))
        split = np.flatnonzero(lo[person_of] != hi[person_of])  # images of persons in several
        if len(movers) == 0 and len(split) == 0:
            result["reason"] = "fewer than two persons in the gap"
            return result
        result["unit"] = " and ".join(
            (["person"] if len(movers) else []) + (["image within person"] if len(split) else [])
        )
        if blank.all():  # no person at all: every image is its own unit
            result["unit"] = "image"
        by_label = person_of * (int(label.max()) + 1) + label
        slot = np.zeros(n_persons, np.int64)
        slot[movers] = np.arange(len(movers))

        def shuffles(b: int) -> tuple[np.ndarray, np.ndarray]:
            for_gap = np.broadcast_to(assign, (b, m)).copy()  # persons in one slice stay
            for_beyond = for_gap.copy()
            if len(movers):
                moved = rng.permuted(np.broadcast_to(lo[movers], (b, len(movers))), axis=1)
                for_gap[:, moved_images] = moved[:, slot[person_of[moved_images]]]
                for_beyond[:, moved_images] = for_gap[:, moved_images]
            if len(split):
                for_gap[:, split] = within(split, person_of[split], b)
                for_beyond[:, split] = within(split, by_label[split], b)
            return for_gap, for_beyond

        whole = _log_assignments(np.zeros(len(movers), np.int64), lo[movers])
        floors = (
            whole + _log_assignments(person_of[split], assign[split]),
            whole + _log_assignments(by_label[split], assign[split]),
        )
        designs = None  # persons moved whole and images within persons: no exact count
        if len(split) == 0:  # persons moved whole, each with all their images

            def expand(rows: np.ndarray) -> np.ndarray:
                out = np.broadcast_to(assign, (len(rows), m)).copy()
                out[:, moved_images] = rows[:, slot[person_of[moved_images]]]
                return out

            persons = (np.zeros(len(movers), np.int64), lo[movers])
            designs = [persons, persons]
        elif len(movers) == 0:  # each person's images among that person's slices

            def expand(rows: np.ndarray) -> np.ndarray:
                out = np.broadcast_to(assign, (len(rows), m)).copy()
                out[:, split] = rows
                return out

            designs = [(person_of[split], assign[split]), (by_label[split], assign[split])]
            # a person alone in one slice, not moved (the only such person), stays put
            still = np.ones(m, bool)
            still[split] = False
            fixed = np.bincount(assign[still], minlength=len(slices)) > 0

    if designs is not None:  # one kind of shuffle: exact counts, slices of one size alike
        floors = tuple(_log_assignments(st, v, alike=True, fixed=fixed) for st, v in designs)
        if floors[0] == 0.0:
            result["reason"] = (
                "no shuffle can change which images share a slice (each slice holds one "
                "person, or every person is alike in every slice)"
            )
            return result
    floor = (_floor(floors[0]), _floor(floors[1]))
    result["p_floor"] = {"gap": floor[0], "beyond_label_mix": floor[1]}
    result["exact"] = {"gap": None, "beyond_label_mix": None}
    p = np.zeros(2)
    for k, key in enumerate(("gap", "beyond_label_mix")):
        if designs is None or _log_assignments(*designs[k]) > log(n_perm) + 1e-9:
            continue
        # no more assignments than shuffles asked for: score every one, an exact p
        rows = expand(_arrangements(*designs[k]))
        stats = _gaps(rows, hit, base, len(slices))[k]
        p[k] = float(np.mean(stats >= observed[k] - 1e-12))
        result["exact"][key] = len(rows)
    above = np.zeros(2, np.int64)
    done = 0
    chunk = max(1, min(_CHUNK, _CELLS // m))  # about _CELLS shuffled values at once
    exact = [result["exact"][key] is not None for key in ("gap", "beyond_label_mix")]
    while done < n_perm and not all(exact):
        b = min(chunk, n_perm - done)
        for_gap, for_beyond = shuffles(b)
        above[0] += int(np.sum(_gaps(for_gap, hit, base, len(slices))[0] >= observed[0] - 1e-12))
        above[1] += int(np.sum(_gaps(for_beyond, hit, base, len(slices))[1] >= observed[1] - 1e-12))
        done += b
    # the shuffles' estimate, never below what the design allows (with few distinct
    # assignments it can fall under it by chance: 0.31 where no p below 1/3 is possible)
    shuffled = (1 + above) / (1 + n_perm)
    result["p_gap"], result["p_beyond_label_mix"] = (
        float(p[k]) if exact[k] else float(max(shuffled[k], floor[k])) for k in range(2)
    )
    return result


__all__ = ["blank_values", "gap_permutation_test"]
