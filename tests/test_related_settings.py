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
