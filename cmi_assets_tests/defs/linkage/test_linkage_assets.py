"""The linkage group as Dagster assets on a small generated world (staged by the real
loaders and SQL models): every asset materializes with its metadata, the model artefact and
review files land under $CMI_DATA_DIR/linkage/, the checks pass, keys stay stable on a
rerun, linkage_quality skips without truth, and no identifier reaches the metadata."""

from __future__ import annotations

import csv
import os
import re
import shutil

import dagster as dg
import polars as pl
import pytest

from cmi_assets.defs.linkage.assets import LINKAGE_ASSETS, staged_person_models
from cmi_assets.defs.linkage.checks import LINKAGE_CHECKS
from cmi_assets.defs.resources import StorageResource
from cmi_assets.storage import IDENTIFIED, WAREHOUSE, Storage
from cmi_assets_tests.linkage.test_events import stage_world

RUN_CONFIG = {"ops": {"linkage_model": {"config": {"u_max_pairs": 2e5}}}}
ENV = (
    "CMI_DATA_DIR",
    "CMI_LANDING_DIR",
    "CMI_QUARANTINE_DIR",
    "CMI_TRUTH_DIR",
    "CMI_PSEUDONYM_KEY",
    "CMI_PSEUDONYM_KEY_FILE",
)


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    from cmi_assets.synthetic.world import generate_world

    saved = {k: os.environ.get(k) for k in ENV}
    data = tmp_path_factory.mktemp("linkage_defs") / "data"
    for key in ENV:
        os.environ.pop(key, None)
    os.environ.update({"CMI_DATA_DIR": str(data), "CMI_PSEUDONYM_KEY": "test-only-key"})
    try:
        storage = Storage.from_env()
        generate_world(storage.landing_dir.parent, profile="small", scale=0.002, seed=3)
        with storage.connect(IDENTIFIED) as con:
            stage_world(con, storage.landing_dir, storage.quarantine_dir)
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(
            LINKAGE_ASSETS + LINKAGE_CHECKS,
            instance=instance,
            resources={"storage": StorageResource()},
            run_config=RUN_CONFIG,
        )
        yield {"storage": storage, "instance": instance, "result": result}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _metadata(result, key: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_person_records_read_every_staged_model_with_person_slots():
    # group, owners, kinds, pool and automation: test_asset_policy.py, for every asset
    person_records = next(a for a in LINKAGE_ASSETS if a.key == dg.AssetKey("person_records"))
    deps = {d.asset_key for d in person_records.specs_by_key[person_records.key].deps}
    assert deps == set(staged_person_models())
    assert dg.AssetKey("stg_births_registrations") in deps and dg.AssetKey("stg_reference_areas") not in deps


def test_every_asset_and_check_runs(linked):
    result = linked["result"]
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        a.key.to_user_string() for a in LINKAGE_ASSETS
    }
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        "link_rate_per_source",
        "max_cluster_size",
        "key_stability",
        "review_decisions_honoured",  # no decisions here: it passes, saying so
    }
    assert all(e.passed for e in evaluations), [(e.check_name, e.description) for e in evaluations if not e.passed]


def test_model_artefact_saved_with_its_sha256_and_described(linked):
    from cmi_assets.linkage.train import load_artefact

    meta = _metadata(linked["result"], "linkage_model")
    path = linked["storage"].data_dir / "linkage" / "models" / f"{meta['sha256'][:12]}.json"
    assert path.exists() and load_artefact(path)["sha256"] == meta["sha256"]
    assert _headers(meta["parameters"]) == ["comparison", "level", "m", "u", "match weight"]
    assert "pairs alone" in _headers(meta["blocking_rules"])
    assert meta["match_weights"].startswith("![match weights](data:image/png;base64,iVBOR")


def test_links_spine_quality_and_clerical_metadata(linked):
    result, storage = linked["result"], linked["storage"]
    links = _metadata(result, "person_links")
    assert 0 < links["links_conservative"] <= links["links_less_conservative"] <= links["scored_pairs"]
    spine = _metadata(result, "person_spine")
    assert spine["conservative/persons"] >= spine["less_conservative/persons"] > 0
    quality = _metadata(result, "linkage_quality")
    assert quality["records_without_truth"] == 0
    child = {
        level: _rows(quality[f"{level}/pairs"], "role")["child"] for level in ("conservative", "less_conservative")
    }
    assert child["less_conservative"]["precision"] > 0.99
    assert child["conservative"]["recall"] < child["less_conservative"]["recall"]
    # the headline: the spine's precision and recall over all pairs, first after the summary
    assert list(quality)[1:5] == [
        "conservative/precision",
        "conservative/recall",
        "less_conservative/precision",
        "less_conservative/recall",
    ]
    assert 0.9 < quality["blocking_recall"] <= 1.0
    assert "sex" in _rows(quality["less_conservative/agreement"], "group")
    clerical = _metadata(result, "linkage_clerical_sample")
    for level in ("conservative", "less_conservative"):
        sample = {m: row[level] for m, row in _rows(clerical["sample"], "measure").items()}
        assert sample["sampled children"] > 50
        agreement = {m: row[f"{level} child"] for m, row in _rows(clerical["agreement"], "measure").items()}
        low, estimate, high = (agreement[k] for k in ("ci_low", "estimate", "ci_high"))
        assert 0 <= low <= estimate <= high <= 1 and clerical[f"{level}/agreement"] == estimate
        review = storage.data_dir / "linkage" / "review" / f"review_{level}.csv"
        assert review.exists() and pl.read_csv(review, infer_schema=False).height == sample["review pairs"]
    events = _metadata(result, "event_tables")
    rows_by_table = {t: row["rows"] for t, row in _rows(events["rows_by_table"], "table").items()}
    assert rows_by_table["person"] > 0
    with storage.connect(WAREHOUSE, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events.birth").fetchone()[0] == rows_by_table["birth"]


def test_max_cluster_size_lists_the_largest_persons_by_key(linked):
    [evaluation] = [e for e in linked["result"].get_asset_check_evaluations() if e.check_name == "max_cluster_size"]
    table = evaluation.metadata["largest_persons"].value
    with linked["storage"].connect(IDENTIFIED, read_only=True) as con:
        for level in ("conservative", "less_conservative"):
            key, records, identities = con.execute(
                """SELECT person_key, count(*), count(DISTINCT identity_id) FROM linkage.person_spine WHERE level = ?
                   GROUP BY person_key ORDER BY count(*) DESC, person_key LIMIT 1""",
                [level],
            ).fetchone()
            assert f"| {level} | {key} | {records} | {identities} | " in table
    assert table.count("\n") == 2 + 2 * 5 - 1  # header, rule, five persons per level


def test_metadata_numbers_are_rounded_for_reading(linked):
    for asset in ("person_spine", "linkage_quality"):
        metadata = _metadata(linked["result"], asset)
        floats = {k: v for k, v in metadata.items() if isinstance(v, float)}
        for value in metadata.values():  # and the numbers inside its tables
            if isinstance(value, dg.TableMetadataValue):
                floats.update(
                    {
                        f"{k}@{i}": v
                        for i, r in enumerate(value.records)
                        for k, v in r.data.items()
                        if isinstance(v, float)
                    }
                )
        assert floats and all(float(f"{v:.4g}") == v for v in floats.values()), (asset, floats)


def test_no_identifier_in_metadata_or_logs(linked):
    storage, instance, result = linked["storage"], linked["instance"], linked["result"]
    text = "\n".join(str(event) for event in instance.all_logs(result.run_id))
    ids, addresses = set(), set()
    for path in storage.landing_dir.rglob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                ids.update(
                    v for k, v in row.items() if k.lower().endswith("_id") and k != "office_code" and v and len(v) > 4
                )
                addresses.update(v for k, v in row.items() if k == "address_line" and v)
    persons = pl.read_parquet(storage.truth_dir / "persons.parquet")
    names = {
        f"{g} {f}".upper() for g, f in zip(persons["given_name"].to_list(), persons["family_name"].to_list()) if g and f
    }
    tokens = set(re.findall(r"[A-Za-z0-9]+", text))
    words = re.findall(r"[A-Za-z0-9'/-]+", text.upper())
    bigrams = {f"{a} {b}" for a, b in zip(words, words[1:])}
    dobs = {d.isoformat() for d in persons["dob"].drop_nulls().to_list() if d.day != 1}
    dates = set(re.findall(r"\d{4}-\d{2}-\d{2}", text))
    assert ids and names and dobs and addresses
    assert not ids & tokens and not names & bigrams and not dobs & dates
    assert not any(a in text for a in addresses)


def test_rerun_keeps_every_key(linked):
    result = dg.materialize(
        LINKAGE_ASSETS + LINKAGE_CHECKS,
        instance=linked["instance"],
        resources={"storage": StorageResource()},
        selection=dg.AssetSelection.assets("person_spine"),
    )
    assert result.success
    [stability] = [e for e in result.get_asset_check_evaluations() if e.check_name == "key_stability"]
    assert stability.passed and stability.metadata["min_unchanged_share"].value == 1.0


def test_quality_skipped_without_truth(linked):
    storage = linked["storage"]
    moved = storage.truth_dir.parent / "truth_hidden"
    shutil.move(storage.truth_dir, moved)
    try:
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(
            LINKAGE_ASSETS,
            instance=instance,
            resources={"storage": StorageResource()},
            selection=dg.AssetSelection.assets("linkage_quality", "linkage_clerical_sample"),
        )
        assert result.success
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert materialized == {"linkage_clerical_sample"}
        logs = "\n".join(str(e) for e in instance.all_logs(result.run_id))
        assert "linkage_quality skipped: no synthetic truth" in logs
        assert _metadata(result, "linkage_clerical_sample")["truth_as_reviewer"] is False
    finally:
        shutil.move(moved, storage.truth_dir)


def _cell(text: str):
    """A markdown cell as the number it shows, or the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _rows(value, key: str) -> dict:
    """A metadata table, or the markdown table it becomes when too wide for the UI, as
    {row's `key` cell: {column: cell}}."""
    if isinstance(value, dg.TableMetadataValue):
        return {r.data[key]: r.data for r in value.records}
    lines = [line for line in value.splitlines() if line.startswith("|") and not line.startswith("|---")]
    headers = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [dict(zip(headers, (_cell(c.strip()) for c in line.strip("|").split("|")))) for line in lines[1:]]
    return {row[key]: row for row in rows}


def _headers(value) -> list[str]:
    if isinstance(value, dg.TableMetadataValue):
        return [c.name for c in value.schema.columns]
    return [c.strip() for c in value.splitlines()[0].strip("|").split("|")]
