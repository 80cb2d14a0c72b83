"""[tool.mlsec] loading, validation, CLI overrides and exclude globs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlsec.config import (
    Config,
    ConfigError,
    config_from_table,
    find_config_file,
    load_config,
    project_root,
    split_ids,
    with_overrides,
)
from mlsec.findings import Category, Severity

FULL = """
[project]
name = "demo"

[tool.mlsec]
select = ["MLS1", "secrets"]
ignore = ["MLS105"]
enable = ["MLS108"]
min-severity = "medium"
exclude = ["scratch/**", "*_generated.py"]
per-path-ignores = { "notebooks/tutorial_*.ipynb" = ["MLS101"] }
bandit = false
fail-on = "high"
"""


def _project(tmp_path: Path, text: str = FULL) -> Path:
    (tmp_path / "pyproject.toml").write_text(text)
    (tmp_path / "notebooks" / "deep").mkdir(parents=True)
    return tmp_path


def test_full_table_is_loaded(tmp_path):
    root = _project(tmp_path)
    cfg = load_config(str(root / "notebooks" / "deep"))
    assert cfg.select == ["MLS1", "secrets"]
    assert cfg.ignore == ["MLS105"]
    assert cfg.enable == ["MLS108"]
    assert cfg.min_severity is Severity.MEDIUM
    assert cfg.fail_on is Severity.HIGH
    assert cfg.bandit is False
    assert cfg.exclude == ["scratch/**", "*_generated.py"]
    assert cfg.per_path_ignores == {"notebooks/tutorial_*.ipynb": ["MLS101"]}
    assert cfg.root == str(root)


def test_underscore_keys_work_too():
    cfg = config_from_table({"min_severity": "high", "fail_on": "critical", "per_path_ignores": {}})
    assert cfg.min_severity is Severity.HIGH and cfg.fail_on is Severity.CRITICAL


def test_nearest_pyproject_with_a_mlsec_table_wins(tmp_path):
    _project(tmp_path)
    inner = tmp_path / "notebooks"
    (inner / "pyproject.toml").write_text("[project]\nname = 'inner'\n")  # no [tool.mlsec]: passed over
    assert find_config_file(str(inner / "deep")) == str(tmp_path / "pyproject.toml")
    (inner / "pyproject.toml").write_text("[tool.mlsec]\nignore = ['MLS111']\n")
    assert find_config_file(str(inner / "deep")) == str(inner / "pyproject.toml")
    assert load_config(str(inner / "deep" / "x.ipynb")).ignore == ["MLS111"]


def test_no_config_gives_defaults_and_cwd_as_root(tmp_path, monkeypatch):
    lone = tmp_path / "lone"
    lone.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert find_config_file(str(lone)) is None
    assert load_config(str(lone)) == Config()
    # a tree without pyproject or .git (a read-only corpus, say) gets no cache folder written into it
    assert project_root(str(lone)) == str(work)


def test_project_root_prefers_git_or_pyproject(tmp_path):
    (tmp_path / ".git").mkdir()
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert project_root(str(sub)) == str(tmp_path)


@pytest.mark.parametrize(
    "table, words",
    [
        ({"selct": ["MLS1"]}, ["unknown key 'selct'", "did you mean 'select'"]),
        ({"min-severity": "severe"}, ["min-severity", "unknown severity 'severe'"]),
        ({"bandit": "yes"}, ["bandit", "true or false"]),
        ({"ignore": [1, 2]}, ["ignore", "list of strings"]),
        ({"per-path-ignores": ["x"]}, ["per-path-ignores", "table"]),
        ({"per-path-ignores": {"*.py": 3}}, ["per-path-ignores", "list of strings"]),
    ],
)
def test_bad_values_name_the_key(table, words):
    with pytest.raises(ConfigError) as info:
        config_from_table(table, source="pyproject.toml")
    for w in words:
        assert w in str(info.value)


def test_invalid_toml_is_a_config_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.mlsec]\nselect = [\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(str(tmp_path))


def test_a_single_string_is_accepted_as_a_list():
    assert config_from_table({"ignore": "MLS101"}).ignore == ["MLS101"]


def test_cli_overrides():
    cfg = Config(select=["MLS1"], ignore=["MLS105"], exclude=["a/**"], bandit=True, fail_on=Severity.LOW)
    out = with_overrides(
        cfg, select=["secrets"], ignore=["MLS111"], exclude=["b/**"], bandit=False, fail_on="high",
        min_severity=None, enable=None,
    )
    assert out.select == ["secrets"]  # replaced
    assert out.ignore == ["MLS105", "MLS111"]  # added
    assert out.exclude == ["a/**", "b/**"]
    assert out.bandit is False and out.fail_on is Severity.HIGH
    assert out.enable == [] and out.min_severity is Severity.INFO  # None = not given
    assert cfg.select == ["MLS1"]  # the original is untouched
    with pytest.raises(ConfigError, match="--fail-on"):
        with_overrides(cfg, fail_on="urgent")


def test_split_ids():
    assert split_ids(None) is None
    assert split_ids(["MLS1, secrets", "B3"]) == ["MLS1", "secrets", "B3"]


def test_rule_selection_by_id_prefix_category_and_default_off():
    cfg = Config(select=["MLS1", "secrets"], ignore=["MLS105"])
    assert cfg.rule_enabled("MLS101", Category.DESERIALIZATION)
    assert not cfg.rule_enabled("MLS105", Category.DESERIALIZATION)
    assert cfg.rule_enabled("MLS201", Category.SECRETS)
    assert not cfg.rule_enabled("MLS301", Category.TRANSPORT)
    assert not Config().rule_enabled("MLS108", Category.SUPPLY_CHAIN, default_enabled=False)
    assert Config(enable=["MLS108"]).rule_enabled("MLS108", Category.SUPPLY_CHAIN, default_enabled=False)


def test_fingerprint_tracks_what_changes_findings_only():
    a = Config()
    assert a.fingerprint() == Config().fingerprint()
    assert a.fingerprint() != Config(ignore=["MLS101"]).fingerprint()
    assert a.fingerprint() != Config(bandit=False).fingerprint()
    assert a.fingerprint() == Config(fail_on=Severity.HIGH, root="/elsewhere").fingerprint()


def test_exclude_globs(tmp_path):
    cfg = Config(exclude=["tests/**", "scratch", "*_generated.py", "notebooks/old/*.ipynb"], root=str(tmp_path))
    p = lambda *parts: str(tmp_path.joinpath(*parts))  # noqa: E731
    assert cfg.is_excluded(p("tests", "test_a.py"))
    assert cfg.is_excluded(p("tests"), is_dir=True)
    assert cfg.is_excluded(p("src", "scratch"), is_dir=True)  # a bare name matches any component
    assert cfg.is_excluded(p("src", "scratch", "x.ipynb"))
    assert cfg.is_excluded(p("src", "model_generated.py"))
    assert cfg.is_excluded(p("notebooks", "old", "a.ipynb"))
    assert not cfg.is_excluded(p("notebooks", "a.ipynb"))
    assert not cfg.is_excluded(p("src", "tests_helper.py"))
    assert not cfg.is_excluded(p("src", "mytests", "a.py"))
    assert not Config().is_excluded(p("anything.py"))


def test_the_repos_own_config_excludes_tests_and_bench():
    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(str(repo / "demo_notebooks"))
    assert cfg.root == str(repo)
    assert cfg.is_excluded(str(repo / "tests" / "test_cli.py"))
    assert cfg.is_excluded(str(repo / "bench" / "scan_vs_bandit.py"))
    assert not cfg.is_excluded(str(repo / "demo_notebooks" / "fraud_model_training.ipynb"))
