"""Settings: defaults, then the config file, then KINDRED_* variables, then overrides."""

from __future__ import annotations

import pytest

from search.config import ConfigError, load_settings


def test_file_then_environment_then_overrides(tmp_path):
    config = tmp_path / "kindred.toml"
    config.write_text('engine = "tantivy"\nsearch_page_size = 20\nindex_dir = "idx"\n')
    from_file = load_settings(config, environ={}, look_in_cwd=False)
    assert from_file.engine == "tantivy" and from_file.search_page_size == 20
    assert from_file.resolve(from_file.index_dir) == tmp_path / "idx"  # relative to the file
    from_env = load_settings(config, environ={"KINDRED_SEARCH_PAGE_SIZE": "30"}, look_in_cwd=False)
    assert from_env.search_page_size == 30 and from_env.engine == "tantivy"
    overridden = load_settings(config, overrides={"search_page_size": 40},
                               environ={"KINDRED_SEARCH_PAGE_SIZE": "30"}, look_in_cwd=False)
    assert overridden.search_page_size == 40


@pytest.mark.parametrize("values, message", [
    ({"search_page_size": 60, "search_max_page_size": 50}, "search_page_size cannot exceed"),
    ({"related_limit": 30, "related_k": 20}, "related_limit cannot exceed"),
    ({"engine": "lucene"}, "engine must be"),
    ({"search_feedback_words": -0.5}, "search_feedback_words"),
    ({"related_topic_weight": 1.5}, "related_topic_weight must be between 0 and 1"),
    ({"related_topics": 0}, "related_topics must be at least 1"),
])
def test_contradictory_settings_are_refused_at_start(values, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(overrides=values, environ={}, look_in_cwd=False)


def test_unknown_setting_in_the_file_names_the_file(tmp_path):
    config = tmp_path / "kindred.toml"
    config.write_text("serch_page_size = 5\n")
    with pytest.raises(ConfigError, match="unknown setting 'serch_page_size'"):
        load_settings(config, environ={}, look_in_cwd=False)
