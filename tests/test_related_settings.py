"""The related model's parameters come from settings and travel with the index version."""

from __future__ import annotations

import pytest

from indexer.build import Indexer
from indexer.related import RelatedModel
from search.config import ConfigError
from search.versions import Layout, read_manifest
from tests.conftest import SAMPLE, make_settings


def test_tf_saturation_is_a_setting_recorded_for_upserts(tmp_path):
    settings = make_settings(tmp_path, related_tf_saturation=0.05)
    Indexer(settings).build([SAMPLE])
    recorded = read_manifest(Layout(settings.index_dir).current_dir())["related"]
    assert recorded["tf_saturation"] == 0.05
    # Upserts refit nothing: they rebuild the model from these parameters.
    assert RelatedModel(**recorded).tf_saturation == 0.05


def test_tf_saturation_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="related_tf_saturation must be above 0"):
        make_settings(tmp_path, related_tf_saturation=0)


def test_the_models_defaults_are_the_settings_defaults():
    """Declared once: an estimator or a policy made without arguments behaves as the settings say."""
    from indexer.related import RelatedModel, RelatedPolicy
    from search.config import Settings

    defaults, model, policy = Settings(), RelatedModel(), RelatedPolicy()
    assert (model.tf_saturation, model.n_topics, model.topic_weight) == (
        defaults.related_tf_saturation, defaults.related_topics, defaults.related_topic_weight)
    assert model.n_candidates > defaults.related_k
    assert (policy.k, policy.min_score, policy.category_boost, policy.tag_boost, policy.recency_boost,
            policy.duplicate_threshold, policy.diversity, list(policy.fallback)) == (
        defaults.related_k, defaults.related_min_score, defaults.related_category_boost, defaults.related_tag_boost,
        defaults.related_recency_boost, defaults.related_duplicate_threshold, defaults.related_diversity,
        defaults.related_fallback)
