"""The permutation test of the worst-slice gap: exact cases by hand, the null's calibration."""

from __future__ import annotations

import numpy as np
import pytest

from mien.evaluation.gap_test import gap_permutation_test


def test_a_gap_no_shuffle_reaches_gets_the_smallest_p_and_label_mix_alone_explains_it():
    # group 0 posed only the easy label (all right), group 1 only the hard one (all wrong)
    groups = np.repeat([0, 1], 30)
    labels = groups.copy()
    correct = groups == 0
    t = gap_permutation_test(groups, correct, labels, np.array([1.0, 0.0]), n_perm=199)
    assert t["unit"] == "image" and t["reason"] is None
    # a shuffle reaches a gap of 1 only by restoring the split: 2 of C(60, 30) ≈ 1e17
    assert t["p_gap"] == pytest.approx(1 / 200)
    # shuffles within each label leave every group's labels, and so its hits, unchanged
    assert t["p_beyond_label_mix"] == 1.0


def test_no_gap_gives_p_one():
    groups = np.tile([0, 1, 2], 10)
    correct = (np.arange(30) // 3) % 3 != 2  # 7 of 10 in every group
    t = gap_permutation_test(groups, correct, np.zeros(30, int), np.array([0.7]), n_perm=50)
    assert t["p_gap"] == 1.0 and t["p_beyond_label_mix"] == 1.0


def test_one_persons_bad_day_is_a_group_effect_only_when_images_are_the_unit():
    groups = np.repeat([0, 0, 1, 1], 20)  # persons a, b in group 0; c, d in group 1
    persons = np.repeat(["a", "b", "c", "d"], 20)
    correct = np.ones(80, bool)
    correct[:20] = False  # person a gets every image wrong
    labels, recall = np.zeros(80, int), np.array([0.75])
    by_image = gap_permutation_test(groups, correct, labels, recall, n_perm=99)
    assert by_image["p_gap"] == pytest.approx(1 / 100)
    # with persons shuffled, a lands in one group or the other: the gap is always 0.5
    by_person = gap_permutation_test(groups, correct, labels, recall, units=persons, n_perm=99)
    assert by_person["unit"] == "person"
    assert by_person["p_gap"] == 1.0 and by_person["p_beyond_label_mix"] == 1.0


def test_no_test_where_it_cannot_be_done():
    correct, labels, recall = np.ones(6, bool), np.zeros(6, int), np.array([1.0])
    one = gap_permutation_test(np.array([0, 0, 0, -1, -1, -1]), correct, labels, recall)
    assert one["p_gap"] is None and one["reason"] == "fewer than two slices in the gap"
    alone = gap_permutation_test(
        np.array([0, 0, 1]), correct[:3], labels[:3], recall, units=list("aab")
    )
    # a and b, each alone in a slice: swapping them only renames the slices
    assert alone["p_gap"] is None and alone["reason"].startswith("no shuffle can change")
    nothing = gap_permutation_test(
        np.array([0, 1]), correct[:2], labels[:2], recall, units=list("ab")
    )
    assert nothing["p_gap"] is None  # two persons: the one swap gives the same gap


def test_images_without_a_person_are_units_of_their_own():
    """Blank ids were left out of the test but not of the reported gap: 25 blank-id images all
    wrong in slice A made a gap of 0.5 with p 1.0 (with ids, the slices did not differ)."""
    groups = np.repeat([0, 1], 50)
    persons = np.r_[[""] * 25, np.repeat([f"a{i}" for i in range(5)], 5),
                    np.repeat([f"b{i}" for i in range(10)], 5)]  # fmt: skip
    correct = np.r_[np.zeros(25, bool), np.ones(75, bool)]
    t = gap_permutation_test(groups, correct, np.zeros(100, int), np.array([0.75]), units=persons)
    assert t["unit"] == "person" and t["p_gap"] < 0.01


def test_with_no_person_at_all_images_are_the_unit_and_nan_is_blank():
    from mien.evaluation.gap_test import blank_values

    groups, correct = np.repeat([0, 1], 30), np.r_[np.ones(30, bool), np.zeros(30, bool)]
    labels, recall = np.zeros(60, int), np.array([0.5])
    t = gap_permutation_test(groups, correct, labels, recall, units=[float("nan")] * 60)
    by_image = gap_permutation_test(groups, correct, labels, recall)
    assert t["unit"] == "image" and t["p_gap"] == by_image["p_gap"] == pytest.approx(1 / 1001)
    assert blank_values(["", " ", None, float("nan"), "a", 0, "nan"]).tolist() == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip


def test_one_person_in_two_slices_does_not_take_the_power_away_from_the_others():
    """One person entered in both groups switched the whole test to shuffling within persons
    (power 74 % to 13 % in a simulation); now the others are still moved whole."""
    rng = np.random.default_rng(3)
    persons = np.repeat(np.arange(20), 10)
    groups = (persons >= 10).astype(int)
    skill = np.r_[np.full(10, 0.5), np.full(10, 0.9)]  # a real group effect
    correct = rng.random(200) < skill[persons]
    straddler = np.r_[persons, np.full(10, 99)]
    groups2 = np.r_[groups, np.tile([0, 1], 5)]
    correct2 = np.r_[correct, rng.random(10) < 0.7]
    labels, recall = np.zeros(210, int), np.array([0.7])
    t = gap_permutation_test(groups2, correct2, labels, recall, units=straddler, n_perm=499)
    assert t["unit"] == "person and image within person"
    assert t["p_gap"] < 0.01
    alone = gap_permutation_test(groups, correct, labels[:200], recall, units=persons, n_perm=499)
    assert alone["unit"] == "person" and alone["p_gap"] < 0.01


def test_a_factor_within_persons_shuffles_each_persons_images_among_their_own_slices():
    # 6 persons, each posing 10 photos one way (slice 0) and 10 another (slice 1), label 0/1
    persons = np.repeat(np.arange(6), 20)
    groups = np.tile(np.repeat([0, 1], 10), 6)
    labels = np.tile([0, 1], 60)
    correct = np.ones(120, bool)
    correct[(groups == 1) & (np.arange(120) % 4 == 0)] = False  # slice 1 misses 1 photo in 4
    recall = np.array([0.75, 1.0])  # only label-0 photos are missed
    t = gap_permutation_test(groups, correct, labels, recall, units=persons, n_perm=199)
    assert t["unit"] == "image within person" and t["reason"] is None
    assert t["p_gap"] == pytest.approx(1 / 200)  # 60 of 60 against 45 of 60
    assert t["p_beyond_label_mix"] == pytest.approx(1 / 200)  # within each person and label
    # a person whose photos all fall in one slice keeps them there: a person all wrong in
    # slice 1 alone moves nothing, and the others show no difference
    persons = np.r_[np.repeat(np.arange(4), 10), np.full(10, 9)]
    groups = np.r_[np.tile([0, 1], 20), np.ones(10, int)]
    correct = np.r_[np.ones(40, bool), np.zeros(10, bool)]
    t = gap_permutation_test(groups, correct, np.zeros(50, int), np.array([0.8]), units=persons)
    assert t["unit"] == "image within person" and t["p_gap"] == 1.0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="one value per image"):
        gap_permutation_test(np.zeros(3, int), np.ones(2, bool), np.zeros(3, int), np.ones(1))
    with pytest.raises(ValueError, match="n_perm must be at least 1"):
        gap_permutation_test(
            np.zeros(3, int), np.ones(3, bool), np.zeros(3, int), np.ones(1), n_perm=0
        )


@pytest.mark.parametrize("by_person", [False, True])
def test_under_the_null_small_p_values_are_as_rare_as_they_claim(by_person):
    rng = np.random.default_rng(0)
    recall = np.array([0.5, 0.7, 0.9])
    p = []
    for seed in range(100):
        labels = rng.integers(0, 3, 150)
        correct = rng.random(150) < recall[labels]  # whatever the group
        persons = rng.integers(0, 30, 150)
        groups = persons % 3 if by_person else rng.integers(0, 3, 150)
        t = gap_permutation_test(
            groups,
            correct,
            labels,
            recall,
            units=persons if by_person else None,
            n_perm=99,
            seed=seed,
        )
        p.append((t["p_gap"], t["p_beyond_label_mix"]))
    small = (np.asarray(p) <= 0.1).mean(axis=0)
    assert np.all(small <= 0.17) and np.all(small >= 0.03)  # about 0.1 each


def test_the_report_states_the_test_or_why_there_is_none():
    from mien.evaluation.report import _gap_test_text

    assert _gap_test_text(None) == ""
    done = {"n_perm": 999, "unit": "person", "p_gap": 0.004, "p_beyond_label_mix": 0.31}
    assert _gap_test_text(done).startswith(
        ". Permutation test (999 shuffles of persons between slices): p = 0.004 for the gap, "
        "0.31 beyond the label mix"
    )
    floor = {"n_perm": 99, "unit": "image within person", "p_gap": 0.01, "p_beyond_label_mix": 1}
    assert _gap_test_text(floor).startswith(
        ". Permutation test (99 shuffles of each person's images among that person's slices): "
        "p = 0.01 (no shuffle reached it) for the gap, 1 beyond the label mix"
    )
    none = {"n_perm": 999, "unit": "person", "p_gap": None, "reason": "why not"}
    assert _gap_test_text(none) == ". No permutation test: why not"
    few = {**done, "p_gap": 0.34, "p_floor": {"gap": 1 / 6, "beyond_label_mix": 1 / 6}}
    assert _gap_test_text(few).endswith(
        "do not differ. With this few units to shuffle no p below 0.17 is possible for the gap "
        "(0.17 beyond the label mix), however large it is"
    )
    exact = {**few, "p_gap": 2 / 70, "exact": {"gap": 70, "beyond_label_mix": 70}}
    assert _gap_test_text(exact).startswith(
        ". Permutation test (every one of the 70 ways to assign persons between slices): "
        "p = 0.029 (exact) for the gap, 0.31 (exact) beyond the label mix"
    )
    many = {**done, "p_floor": {"gap": 1e-9, "beyond_label_mix": 1e-9}}
    assert _gap_test_text(many) == _gap_test_text(done)


def test_p_floor_counts_the_distinct_assignments():
    from math import comb

    # images as the unit: 30 + 30 images, C(60, 30) assignments; within labels C(30,15)^2;
    # two slices of one size give the same gaps swapped, so each count is halved
    groups = np.repeat([0, 1], 30)
    labels = np.tile([0, 1], 30)
    t = gap_permutation_test(groups, groups == 0, labels, np.array([0.5, 0.5]), n_perm=9)
    assert t["p_floor"]["gap"] == pytest.approx(2 / comb(60, 30))
    assert t["p_floor"]["beyond_label_mix"] == pytest.approx(2 / comb(30, 15) ** 2)
    # 2 persons per group moved whole: C(4, 2) = 6 ways, 3 distinct: exact, p = 1/3
    persons = np.repeat(["a", "b", "c", "d"], 15)
    t = gap_permutation_test(groups, groups == 0, labels, np.array([0.5, 0.5]), units=persons)
    assert t["p_floor"] == {"gap": pytest.approx(1 / 3), "beyond_label_mix": pytest.approx(1 / 3)}
    assert t["exact"] == {"gap": 6, "beyond_label_mix": 6}
    assert t["p_gap"] == pytest.approx(1 / 3)
    # one person in both slices, 2 + 2 images: C(4, 2) ways; within labels (one each): 2 · 2;
    # each halved, the slices being alike
    t = gap_permutation_test(
        np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0], bool), np.array([0, 1, 0, 1]),
        np.array([0.5, 0.5]), units=list("aaaa"),
    )  # fmt: skip
    assert t["unit"] == "image within person"
    assert t["p_floor"] == {"gap": pytest.approx(1 / 3), "beyond_label_mix": pytest.approx(1 / 2)}
    assert t["exact"] == {"gap": 6, "beyond_label_mix": 4}
    # no test, no floor
    none = gap_permutation_test(np.zeros(3, int), np.ones(3, bool), np.zeros(3, int), [1.0])
    assert none["p_floor"] is None


def test_a_p_is_never_below_its_floor():
    """Three persons, one slice against two: 3 assignments, so no p below 1/3; the shuffles'
    estimate came out at 0.31 for some seeds, under the floor the report then stated."""
    groups = np.array([0, 0, 1, 1, 1, 1])
    correct = groups == 0
    persons = np.array(list("AABBCC"), object)
    for seed in range(6):
        t = gap_permutation_test(
            groups, correct, np.zeros(6, int), np.array([4 / 6]), units=persons, seed=seed
        )
        assert t["p_floor"]["gap"] == pytest.approx(1 / 3)
        assert t["p_gap"] >= 1 / 3 and t["p_beyond_label_mix"] >= 1 / 3


def test_small_designs_are_scored_exactly():
    """4 against 4 persons, perfectly apart: 70 assignments, 2 of them (the observed one and
    its swap) give the gap, so p = 2/70; 1000 random shuffles gave 0.021, below what any
    assignment can give."""
    persons = np.repeat(np.arange(8), 5)
    groups = (persons >= 4).astype(int)
    correct = groups == 0
    t = gap_permutation_test(groups, correct, np.zeros(40, int), np.array([0.5]), units=persons)
    assert t["exact"] == {"gap": 70, "beyond_label_mix": 70}
    assert t["p_gap"] == pytest.approx(2 / 70) and t["p_floor"]["gap"] == pytest.approx(2 / 70)
    # enumeration agrees with many shuffles where both are possible
    rng = np.random.default_rng(1)
    correct = rng.random(40) < 0.7
    exact = gap_permutation_test(groups, correct, np.zeros(40, int), np.array([0.7]), units=persons)
    shuffled = gap_permutation_test(
        groups, correct, np.zeros(40, int), np.array([0.7]), units=persons, n_perm=20
    )
    many = gap_permutation_test(
        groups, correct, np.zeros(40, int), np.array([0.7]), units=persons, n_perm=20000
    )
    assert exact["exact"]["gap"] == 70 and shuffled["exact"]["gap"] is None
    assert many["exact"]["gap"] == 70  # 20000 shuffles asked: 70 assignments scored instead
    assert shuffled["p_gap"] == pytest.approx(exact["p_gap"], abs=0.25)


def test_exact_p_matches_brute_force_with_a_person_left_in_place():
    """A person alone in one slice (not moved: the only such person) made two slices look
    interchangeable that were not: no test where one was possible, or a p below p_floor."""
    import itertools

    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(150):
        m = int(rng.integers(5, 8))
        groups = rng.integers(0, 2, m)
        persons = rng.integers(0, 3, m)
        correct = rng.random(m) < 0.5
        t = gap_permutation_test(
            groups, correct, np.zeros(m, int), np.array([0.5]), units=persons, n_perm=5000
        )
        if t["p_gap"] is None or t["unit"] != "image within person" or not t["exact"]["gap"]:
            continue
        lo = {p: groups[persons == p].min() for p in set(persons.tolist())}
        hi = {p: groups[persons == p].max() for p in set(persons.tolist())}
        split = np.array([lo[p] != hi[p] for p in persons])

        def gap(assign, correct=correct):
            acc = [correct[assign == s].mean() for s in (0, 1) if (assign == s).any()]
            return max(acc) - min(acc)

        observed, hits, total = gap(groups), 0, 0
        # every rearrangement of each split person's images among their own slices
        per_person = []
        for p in sorted(set(persons[split].tolist())):
            idx = np.flatnonzero((persons == p) & split)
            per_person.append((idx, sorted(set(itertools.permutations(groups[idx])))))
        for combo in itertools.product(*(orders for _, orders in per_person)):
            assign = groups.copy()
            for (idx, _), order in zip(per_person, combo, strict=True):
                assign[idx] = order
            total += 1
            hits += gap(assign) >= observed - 1e-12
        assert t["p_gap"] == pytest.approx(hits / total)
        assert t["p_gap"] >= t["p_floor"]["gap"] - 1e-12
        checked += 1
    assert checked >= 20
