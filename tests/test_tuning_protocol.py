"""The tuning protocol of bench/tune.py and bench/related_tune.py, on made-up margins."""

from __future__ import annotations

from bench.tune import leave_one_out, within_baseline

# Each setting's margin over the best peer on three collections.
MARGINS = [
    {"a": 0.50, "b": -0.10, "c": -0.10},  # the best mean, bought with two losses
    {"a": -0.20, "b": 0.10, "c": 0.10},
    {"a": 0.00, "b": 0.05, "c": 0.00},  # never behind
]


def test_a_left_out_collection_plays_no_part_in_choosing_its_setting():
    folds, _ = leave_one_out(MARGINS)
    assert folds == {"a": 1, "b": 2, "c": 2}  # "a" alone would have chosen setting 0


def test_the_default_maximizes_the_worst_margin_not_the_mean():
    _, default = leave_one_out(MARGINS)
    assert default == 2


def test_a_setting_that_drops_a_collection_below_its_baseline_is_not_chosen_on_it():
    # Setting 2 has the best worst margin but loses collection c's baseline figure.
    kept = [{"a": True, "b": True, "c": True}, {"a": True, "b": True, "c": True}, {"a": True, "b": True, "c": False}]
    folds, default = leave_one_out(MARGINS, kept)
    assert default == 0
    assert folds["c"] == 2  # chosen without c: c's baseline plays no part either
    assert folds["a"] == 1 and folds["b"] == 0


def test_within_baseline_allows_the_tolerance_and_collections_without_a_baseline():
    scores = {"a": [{"ndcg@10": 0.398}, {"ndcg@10": 0.396}], "new": [{"ndcg@10": 0.1}, {"ndcg@10": 0.9}]}
    assert within_baseline(scores, {"a": 0.4}, 0.003) == [{"a": True, "new": True}, {"a": False, "new": True}]


def test_worst_margins_within_the_tie_go_to_the_better_next_worst():
    # Setting 0 leads on the worst corpus by 0.0006, setting 1 is far ahead on the next one.
    margins = [{"a": 0.0267, "b": 0.0428, "c": 0.0646}, {"a": 0.0261, "b": 0.0571, "c": 0.0565},
               {"a": 0.0244, "b": 0.0900, "c": 0.0900}]
    assert leave_one_out(margins)[1] == 0
    assert leave_one_out(margins, tie=0.001)[1] == 1  # setting 2's worst is beyond the tie
