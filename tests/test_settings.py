"""Settings: one model for kb.toml and KB_* variables, errors that name the file or variable, a generated
table of every setting, and a taxonomy named by the settings and loaded once into the knowledge base."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from kbfixtures import ROOT, kb_env, run_kb

from kb.config import ConfigError, Settings, load_settings, settings_markdown
from kb.settings_sources import env_names, fields_of, in_file, section_model

DOC = ROOT / "docs" / "settings.md"


def _load(tmp_path: Path, toml: str, **env: str) -> Settings:
    (tmp_path / "kb.toml").write_text(toml, encoding="utf-8")
    return load_settings(tmp_path, env=env)


def test_environment_wins_over_the_file_and_data_dir_over_both(tmp_path):
    s = _load(
        tmp_path,
        '[kb]\nembed_batch_size = 8\nchunk_tokens = 150\n[smtp]\nport = 2525\nhost = "mail.example"\n',
        KB_EMBED_BATCH_SIZE="16",
        KB_SMTP_PORT="587",
        KB_DATA_DIR="/elsewhere",
    )
    assert (s.embed_batch_size, s.chunk_tokens, s.smtp.port, s.smtp.host) == (16, 150, 587, "mail.example")
    assert s.data_dir == tmp_path and s.config_path == tmp_path / "kb.toml"
    assert load_settings(tmp_path, env={"KB_EMBED_BATCH_SIZE": ""}).embed_batch_size == 8, "empty: the file's"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[kb]\nchroma_ur = "http://x"\n', "[kb]: unknown key 'chroma_ur'; did you mean 'chroma_url'?"),
        ('[smtp]\nhots = "x"\n', "[smtp]: unknown key 'hots'; did you mean 'host'?"),
        ("[app]\nsingle_usr = true\n", "[app]: unknown key 'single_usr'; did you mean 'single_user'?"),
        ('[[lists]]\nname = "a"\naudiance = "internal"\n', "[[lists]] entry 1: unknown key 'audiance'"),
        ('[[sources]]\nname = "a"\nfeeds = "https://a.example/f"\n', "[[sources]] entry 1: unknown key 'feeds'"),
        ('[smpt]\nhost = "x"\n', "unknown table [smpt]; did you mean 'smtp'?"),
        ("[kb]\nzzz = 1\n", "[kb]: unknown key 'zzz' (see docs/settings.md)"),
    ],
)
def test_an_unknown_key_names_the_file_and_key_and_the_nearest_valid_one(tmp_path, toml, expected):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, toml)
    assert str(info.value).startswith(f"{tmp_path / 'kb.toml'}: ")
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[smtp]\nport = "abc"\n', "[smtp] port must be a whole number, not 'abc'"),
        ('[smtp]\nsecurity = "tls"\n', "[smtp] security must be one of 'none', 'starttls' or 'ssl', not 'tls'"),
        ('[kb]\nembed_backend = "gpu"\n', "[kb] embed_backend must be one of 'auto', 'torch' or 'onnx'"),
        ('[app]\nsingle_user = "yes"\n', "[app] single_user must be true or false, not 'yes'"),
        ('[[sources]]\nname = "a"\nfetch_hosts = "x"\n', "[[sources]] entry 1: fetch_hosts must be a list"),
        ('[[lists]]\nname = "a"\naudience = "everyone"\n', "[[lists]] entry 1: audience must be one of"),
        ("[kb]\nchunk_tokens = 0\n", "[kb] chunk_tokens must be above 0, not 0"),
        ('[kb]\ndata_dir = "/x"\n', "[kb]: data_dir is not set in kb.toml; set KB_DATA_DIR instead"),
    ],
)
def test_an_invalid_value_names_file_key_and_what_was_expected(tmp_path, toml, expected):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, toml)
    assert str(info.value).startswith(str(tmp_path / "kb.toml")) and expected in str(info.value)


def test_a_misspelt_variable_is_an_error_naming_it_and_others_are_left_alone(tmp_path):
    with pytest.raises(ConfigError, match=r"KB_EMBED_MODLE is not a setting; did you mean 'KB_EMBED_MODEL'\?"):
        load_settings(tmp_path, env={"KB_EMBED_MODLE": "x"})
    with pytest.raises(ConfigError, match="KB_SMTP_SERVER is not a setting"):  # a section's prefix: a setting
        load_settings(tmp_path, env={"KB_SMTP_SERVER": "x"})
    with pytest.raises(ConfigError, match=r"KB_SMTP_PORT \(environment\) must be a whole number, not 'abc'"):
        load_settings(tmp_path, env={"KB_SMTP_PORT": "abc"})
    with pytest.raises(ConfigError, match="KB_APP_SINGLE_USER='maybe': must be true or false"):
        load_settings(tmp_path, env={"KB_APP_SINGLE_USER": "maybe"})
    assert load_settings(tmp_path, env={"KB_APP_SINGLE_USER": "true"}).app.single_user is True
    assert load_settings(tmp_path, env={"KB_BUILD_ID": "42"}).embed_batch_size == 32, "not a setting's name"


def test_a_check_across_settings_says_where_each_value_came_from(tmp_path):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "[kb]\nchunk_overlap = 64\n", KB_CHUNK_TOKENS="50")
    assert "chunk_overlap must be smaller than chunk_tokens" in str(info.value)
    assert f"chunk_overlap from {tmp_path / 'kb.toml'}: [kb] chunk_overlap" in str(info.value)
    assert "chunk_tokens from KB_CHUNK_TOKENS (environment)" in str(info.value)


def test_the_command_line_prints_a_settings_error_cleanly(tmp_path):
    data = tmp_path / "kb"
    data.mkdir()
    (data / "kb.toml").write_text('[smtp]\nhots = "mail.example"\n', encoding="utf-8")
    proc = run_kb(data, "stats")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {data / 'kb.toml'}: [smtp]: unknown key 'hots'; did you mean 'host'?")
    proc = run_kb(tmp_path / "kb2", "stats", KB_CHUNK_TOKNES="100")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "KB_CHUNK_TOKNES" in proc.stderr


def test_eval_cache_defaults_under_the_xdg_cache_folder(tmp_path):
    assert load_settings(tmp_path, env={"XDG_CACHE_HOME": "/c"}).eval_cache == Path("/c/kb/eval")
    assert load_settings(tmp_path, env={"KB_EVAL_CACHE": "/e"}).eval_cache == Path("/e")


def test_every_setting_is_in_docs_settings_md_which_is_up_to_date():
    text = DOC.read_text(encoding="utf-8")
    assert text == settings_markdown(), "docs/settings.md is stale: run `python -m kb.config > docs/settings.md`"
    for var in env_names(Settings):
        assert f"`{var}`" in text, f"{var} is not documented"
    for name, info in fields_of(Settings).items():
        model = section_model(info)
        if model is None:
            assert not in_file(info) or f"`[kb] {name}`" in text, name
            continue
        for sub, sinfo in fields_of(model).items():
            assert not in_file(sinfo) or re.search(rf"`\[\[?{name}\]\]? {sub}`", text), f"{name}.{sub}"
            assert sinfo.description, f"{name}.{sub} has no description"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/settings.md" in readme


CUSTOM_FACTOR = """
[factors.e-scooter-riding]
label = "E-scooter riding"
polarity = "risk"
priorities = [7]
who_level = "community"
description = "Riding rented e-scooters in traffic, a test factor for a custom taxonomy."
synonyms = ["e-scooter riding", "escooter riding"]

[[priorities]]
number = 7
name = "Micromobility"
who_level = "community"
description = "A priority that exists only in this knowledge base's taxonomy."
"""


@pytest.fixture
def custom_kb(tmp_path):
    """A knowledge base whose kb.toml names an edited taxonomy: one extra factor and priority, 1 renamed."""
    data = tmp_path / "kb"
    data.mkdir()
    text = (ROOT / "kb" / "taxonomy.toml").read_text(encoding="utf-8")
    renamed = text.replace('number = 1\nname = "Individual"', 'number = 1\nname = "Personal risk"', 1)
    assert renamed != text
    (data / "vru-taxonomy.toml").write_text(renamed + CUSTOM_FACTOR, encoding="utf-8")
    (data / "kb.toml").write_text('[kb]\ntaxonomy_path = "vru-taxonomy.toml"\n', encoding="utf-8")
    return data


def test_a_custom_taxonomy_is_loaded_once_and_used_by_tagging_and_the_digest(custom_kb, tmp_path, monkeypatch):
    import kb.taxonomy
    from ingest.pipeline import Ingestor
    from kb.digest import Composer
    from kb.store import KnowledgeBase

    loads = []
    real = kb.taxonomy.load_taxonomy
    monkeypatch.setattr(kb.taxonomy, "load_taxonomy", lambda path=None: loads.append(path) or real(path))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "scooters.md").write_text(
        "# Scooters in Leeds\n\nE-scooter riding among teenagers rose sharply in Leeds city centre last year, "
        "and alcohol misuse was common among riders stopped by the police.\n",
        encoding="utf-8",
    )
    kbase = KnowledgeBase(load_settings(custom_kb, env=kb_env(custom_kb)))
    try:
        assert kbase.settings.taxonomy_path == custom_kb / "vru-taxonomy.toml"
        report = Ingestor(kbase).run([notes])
        assert report.to_dict()["summary"]["by_status"] == {"ok": 1}, report.to_dict()
        (doc_id,) = report.to_dict()["files"][0]["doc_ids"]
        tags = [c.tags for c in kbase.catalogue.chunks_of(doc_id)]
        assert any(f.factor == "e-scooter-riding" for t in tags for f in t.factors) and any(
            7 in t.priorities for t in tags
        )
        digest = Composer(kbase).compose(None)
        titles = [s.title for s in digest.sections]
        assert any("Micromobility" in t for t in titles) or any("Personal risk" in t for t in titles), titles
        assert not any("Individual" in t for t in titles), titles
        kbase.taxonomy  # noqa: B018  (asked again: the cached one)
    finally:
        kbase.close()
    assert loads == [custom_kb / "vru-taxonomy.toml"], f"the taxonomy was read {len(loads)} times"


def test_the_command_line_takes_tags_and_choices_from_the_custom_taxonomy(custom_kb):
    tagged = json.loads(run_kb(custom_kb, "tag", "E-scooter riding at night", "--json", check=True).stdout)
    assert tagged[0]["factors"][0]["factor"] == "e-scooter-riding" and tagged[0]["priorities"] == [7]
    ok = run_kb(custom_kb, "search", "scooters", "--mode", "bm25", "--priority", "7", "--json")
    assert ok.returncode == 0, ok.stderr
    bad = run_kb(custom_kb, "search", "scooters", "--mode", "bm25", "--priority", "8")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "1 Personal risk" in bad.stderr and "7 Micromobility" in bad.stderr and "vru-taxonomy.toml" in bad.stderr
    who = run_kb(custom_kb, "search", "scooters", "--mode", "bm25", "--who", "planetary")
    assert who.returncode != 0 and "is not a WHO level" in who.stderr and "societal" in who.stderr
    packaged = run_kb(custom_kb.parent / "plain", "search", "x", "--mode", "bm25", "--priority", "7")
    assert packaged.returncode != 0 and "is not a priority" in packaged.stderr, "the packaged taxonomy has 1-6"
