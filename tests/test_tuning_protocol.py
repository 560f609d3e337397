"""The tuning protocol of bench/tune.py and bench/related_tune.py, on made-up margins."""

from __future__ import annotations

from bench.tune import leave_one_out

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
