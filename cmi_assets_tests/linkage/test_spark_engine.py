"""The spark engine against the DuckDB one: a model trained on DuckDB, scored on Spark
(local[2], a real JVM and Splink's SparkAPI), gives the same blocked pairs, match weights,
links at both levels and person_keys; every comparison level is assigned alike on both.

Needs pyspark (the [test] extra) and Java 17: where either is missing the tests say so,
and under CI (CI=true) they fail instead of skipping.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
import sys

import duckdb
import numpy as np
import polars as pl
import pytest

from cmi_assets.linkage import settings
from cmi_assets.linkage.engine import JAVA_NEEDED, LinkageEngine, java_executable, require_java
from cmi_assets.linkage.person_records import IDENTITIES_TABLE, build_person_records
from cmi_assets.linkage.predict import predict_new_pairs, predict_pairs
from cmi_assets.linkage.spine import LINKS_TABLE, SPINE_TABLE, THRESHOLDS_TABLE, link_persons

DUCKDB = LinkageEngine("duckdb")


@pytest.fixture(scope="module")
def spark(tmp_path_factory) -> LinkageEngine:
    missing = []
    if importlib.util.find_spec("pyspark") is None:
        missing.append("pyspark (pip install -e '.[test]')")
    if java_executable() is None:
        missing.append(JAVA_NEEDED)
    if missing:
        message = "the Spark engine tests need " + "; ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return LinkageEngine("spark", "local[2]", work_dir=tmp_path_factory.mktemp("spark_work"))


# --- configuration --------------------------------------------------------------------------------


def test_engine_is_chosen_by_configuration():
    default = LinkageEngine.from_env({})
    assert default.name == "duckdb" and default.spark_master == f"local[{os.cpu_count()}]"
    cluster = LinkageEngine.from_env(
        {
            "CMI_LINKAGE_ENGINE": "Spark",
            "CMI_SPARK_MASTER": "spark://linker:7077",
            "CMI_SPARK_WORK_DIR": "/shared/cmi",
            "CMI_SPARK_DRIVER_MEMORY": "8g",
            "CMI_SPARK_SHUFFLE_PARTITIONS": "64",
        }
    )
    assert (cluster.name, cluster.spark_master, str(cluster.work_dir)) == (
        "spark",
        "spark://linker:7077",
        "/shared/cmi",
    )
    assert (cluster.driver_memory, cluster.shuffle_partitions, cluster.is_local) == ("8g", 64, False)
    with pytest.raises(ValueError, match="CMI_LINKAGE_ENGINE: unknown linkage engine 'polars'"):
        LinkageEngine.from_env({"CMI_LINKAGE_ENGINE": "polars"})


def test_missing_java_is_named(monkeypatch, tmp_path, linked_mini):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java here
    with pytest.raises(RuntimeError, match="needs Java 17 or newer"):
        require_java()
    if importlib.util.find_spec("pyspark") is not None:  # the path a user takes, before any JVM starts
        with pytest.raises(RuntimeError, match="needs Java 17 or newer"):
            predict_pairs(duckdb.connect(), linked_mini["artefact"], engine=LinkageEngine("spark", "local[1]"))


def test_the_linkage_library_loads_without_pyspark():
    code = (
        "import sys; import cmi_assets.linkage.spine, cmi_assets.linkage.predict, cmi_assets.linkage.link_files; "
        "print('pyspark' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_model_in_dialect_rewrites_conditions_only(linked_mini):
    model = linked_mini["artefact"]["model"]
    fields = frozenset(linked_mini["artefact"]["fields"])
    spark_model = settings.model_in_dialect(model, fields, settings.SPARK)
    assert settings.model_in_dialect(model, fields, settings.DUCKDB) is model
    rewritten = 0
    for a, b in zip(model["comparisons"], spark_model["comparisons"], strict=True):
        for level_a, level_b in zip(a["comparison_levels"], b["comparison_levels"], strict=True):
            assert {k: v for k, v in level_a.items() if k != "sql_condition"} == {
                k: v for k, v in level_b.items() if k != "sql_condition"
            }
            rewritten += level_a["sql_condition"] != level_b["sql_condition"]
            assert "list_has_any" not in level_b["sql_condition"]
            assert "jaro_winkler_similarity" not in level_b["sql_condition"]
    # given: nickname, 2 Jaro-Winkler; middle: Jaro-Winkler; family: a part, 2 Jaro-Winkler; DOB: one character;
    # parents: a name in common
    assert rewritten == 9
    assert spark_model["blocking_rules_to_generate_predictions"] == model["blocking_rules_to_generate_predictions"]
    tampered = {**model, "comparisons": [dict(model["comparisons"][0])]}
    tampered["comparisons"][0]["comparison_levels"] = [
        {"sql_condition": "soundex(given_name_l) = soundex(given_name_r)", "label_for_charts": "sounds alike"}
    ]
    with pytest.raises(ValueError, match="given_name, level 'sounds alike': not a level of these settings"):
        settings.model_in_dialect(tampered, fields, settings.SPARK)


# --- every comparison level, on hand-made pairs ---------------------------------------------------

_GIVEN = [  # (name, nickname forms)
    ("WILLIAM", ["WILLIAM", "BILL"]),
    ("BILL", ["BILL", "WILLIAM"]),
    ("JONATHAN", ["JONATHAN"]),
    ("JONATHON", ["JONATHON"]),
    ("W", None),
    ("CHARLENE", ["CHARLENE"]),
    ("CLARENCE", ["CLARENCE"]),  # Jaro-Winkler 0.882 in DuckDB, 0.861 in Splink's Spark jar
    ("DIANA", ["DIANA"]),
    ("ADRIAN", ["ADRIAN"]),  # 0.811 in DuckDB, 0.778 in the jar
    ("JAMES", ["JAMES", "JIM"]),
    ("JONES", ["JONES"]),
    (None, None),
]
_MIDDLE = [None, "PAUL", "JAMES", "P", "ANN", "ANNE", "WILLIAM"]
_FAMILY = [("SMITH", ["SMITH"]), ("SMYTH", ["SMYTH"]), ("JONES", ["JONES"]), ("SMITH-JONES", ["SMITH", "JONES"])]
_FAMILY += [("WILLIAM", ["WILLIAM"]), ("MARTIN", ["MARTIN"]), ("MARTINS", ["MARTINS"]), (None, None)]
_DOB = [dt.date(2010, 3, 4), dt.date(2010, 4, 3), dt.date(2010, 3, 5), dt.date(2010, 3, 21), dt.date(2011, 3, 4)]
_DOB += [dt.date(2012, 7, 7), None]
_TEXT = {None: None} | {d: d.strftime("%Y%m%d") for d in _DOB if d}
_ADDRESS = ["12 MAIN ST", "12 MAIN STREET", "12 MAIN RD", "40 HIGH ST", None]
_LOCALITY = ["SPRINGFIELD", "SPRINGFEILD", "SHELBYVILLE", None]
_SHARED_ID = ["123456789", "123456798", "123456780", "999999999", None]
_PARENTS = [["MARY"], ["MARY", "JOHN"], ["SUSAN"], None]


def _record(rng: np.random.Generator) -> dict:
    given, forms = _GIVEN[rng.integers(len(_GIVEN))]
    family, parts = _FAMILY[rng.integers(len(_FAMILY))]
    dob = _DOB[rng.integers(len(_DOB))]
    age_only = dob is None and rng.random() < 0.5
    return {
        "given_name": given,
        "given_forms": forms,
        "middle_name": _MIDDLE[rng.integers(len(_MIDDLE))],
        "family_name": family,
        "family_parts": parts,
        "dob": dob,
        "dob_text": "20100343" if dob is None and rng.random() < 0.3 else _TEXT[dob],
        "birth_year": dob.year if dob else (2010 + int(rng.integers(0, 3)) if age_only else None),
        "dob_year_month": dob.strftime("%Y-%m") if dob else None,
        "sex": ["M", "F", None][rng.integers(3)],
        "parent_given_forms": _PARENTS[rng.integers(len(_PARENTS))],
        "address": _ADDRESS[rng.integers(len(_ADDRESS))],
        "locality": _LOCALITY[rng.integers(len(_LOCALITY))],
        "postcode": ["12345", "54321", None][rng.integers(3)],
        "id_namespace": ["health", "benefits"][rng.integers(2)],
        "person_id": ["P1", "P2", None][rng.integers(3)],
        "shared_id": _SHARED_ID[rng.integers(len(_SHARED_ID))],
    }


def _pairs(n: int = 4000, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        left = _record(rng)
        right = _record(rng) if rng.random() < 0.7 else {**left, **_record(rng), "given_name": left["given_name"]}
        if rng.random() < 0.03:  # given and family keyed into each other's field
            right.update(given_name=left["family_name"], family_name=left["given_name"])
        rows.append({f"{k}_l": v for k, v in left.items()} | {f"{k}_r": v for k, v in right.items()})
    schema = {}
    for column in rows[0]:
        name = column[:-2]
        schema[column] = {"dob": pl.Date, "birth_year": pl.Int32}.get(name, pl.String)
        if name.endswith(("forms", "parts")):
            schema[column] = pl.List(pl.String)
    return pl.DataFrame(rows, schema=schema).with_row_index("pair").with_columns(pl.col("pair").cast(pl.Int64))


def _levels_sql(comparison: dict) -> str:
    """The index of the first level whose condition holds (Splink's CASE order)."""
    whens = [
        f"WHEN {lv['sql_condition']} THEN {i}"
        for i, lv in enumerate(comparison["comparison_levels"])
        if lv["sql_condition"] != "ELSE"
    ]
    return f"CASE {' '.join(whens)} ELSE {len(comparison['comparison_levels']) - 1} END"


def test_every_level_is_assigned_alike_on_spark(spark):
    from cmi_assets.linkage.spark_engine import spark_session

    fields = settings.SPINE_FIELDS | settings.FILE_FIELDS
    pairs = _pairs()
    names = [c["output_column_name"] for c in settings.comparisons(fields)]
    con = duckdb.connect()
    con.register("pairs", pairs)
    on_duckdb = con.execute(
        "SELECT pair, "
        + ", ".join(f"{_levels_sql(c)} AS {n}" for c, n in zip(settings.comparisons(fields, settings.DUCKDB), names))
        + " FROM pairs ORDER BY pair"
    ).pl()
    session = spark_session(spark)
    session.createDataFrame(pairs.to_arrow()).createOrReplaceTempView("cmi_level_pairs")
    on_spark = pl.from_arrow(
        session.sql(
            "SELECT pair, "
            + ", ".join(f"{_levels_sql(c)} AS {n}" for c, n in zip(settings.comparisons(fields, settings.SPARK), names))
            + " FROM cmi_level_pairs ORDER BY pair"
        ).toArrow()
    )
    session.catalog.dropTempView("cmi_level_pairs")
    assert on_spark.cast(on_duckdb.schema).equals(on_duckdb)
    # every level of every comparison is met by some pair, so none is compared untested
    for comparison, name in zip(settings.comparisons(fields), names):
        assert set(on_duckdb[name]) == set(range(len(comparison["comparison_levels"]))), name


# --- the whole scoring, on the mini world ---------------------------------------------------------


def test_spark_scores_the_same_pairs_links_and_keys(spark, linked_mini, monkeypatch, stg_loader):
    """Trained once on DuckDB (linked_mini); the same artefact scored on Spark."""
    artefact, linked = linked_mini["artefact"], linked_mini["con"]
    con = duckdb.connect()
    stg_loader(con, linked_mini["world"])
    build_person_records(con)
    assert con.execute(f"SELECT count(*) FROM {IDENTITIES_TABLE}").fetchone()[0] > 1000

    # every blocked pair (no probability floor), on both engines
    predict_pairs(con, artefact, out_table="linkage.blocked_duckdb", min_match_probability=0.0, engine=DUCKDB)
    predict_pairs(con, artefact, out_table="linkage.blocked_spark", min_match_probability=0.0, engine=spark)
    n_duckdb, n_spark, both, max_difference = con.execute("""
        SELECT count(d.unique_id_l), count(s.unique_id_l), count(d.unique_id_l) FILTER (WHERE s.unique_id_l IS NOT NULL),
               max(abs(d.match_weight - s.match_weight))
        FROM linkage.blocked_duckdb d FULL JOIN linkage.blocked_spark s USING (unique_id_l, unique_id_r)""").fetchone()
    assert n_duckdb > 4000 and n_spark == n_duckdb == both
    assert max_difference <= 1e-9

    # the full run with the engine chosen by configuration, as person_links runs it
    monkeypatch.setenv("CMI_LINKAGE_ENGINE", "spark")
    monkeypatch.setenv("CMI_SPARK_MASTER", spark.spark_master)
    monkeypatch.setenv("CMI_SPARK_WORK_DIR", str(spark.work_dir))
    summary = link_persons(con, artefact, b"test-secret")
    assert not list(spark.work_dir.iterdir())  # the exchange of identified records is removed

    thresholds = [c.execute(f"SELECT * FROM {THRESHOLDS_TABLE}").fetchone() for c in (linked, con)]
    assert thresholds[0] == pytest.approx(thresholds[1], abs=1e-9)
    links = "SELECT unique_id_l, unique_id_r, is_link_conservative, is_link_less_conservative, separated_by FROM "
    links_duckdb, links_spark = (
        c.execute(links + LINKS_TABLE).pl().sort("unique_id_l", "unique_id_r") for c in (linked, con)
    )
    assert links_duckdb.height > 1000 and links_spark.equals(links_duckdb)
    assert links_duckdb["is_link_conservative"].sum() < links_duckdb["is_link_less_conservative"].sum()
    spine = f"SELECT record_ref, level, person_key FROM {SPINE_TABLE} ORDER BY record_ref, level"
    spine_duckdb, spine_spark = (c.execute(spine).pl() for c in (linked, con))
    assert spine_spark.equals(spine_duckdb)
    for level in ("conservative", "less_conservative"):
        assert summary[level]["persons"] == linked_mini["summary"][level]["persons"]
        assert summary[level]["persons"] < spine_duckdb.filter(pl.col("level") == level).height

    # a new extract's pairs are scored on DuckDB whatever the engine
    import cmi_assets.linkage.spark_engine as spark_engine

    def no_spark(*args, **kwargs):
        raise AssertionError("a new extract's pairs went to Spark")

    monkeypatch.setattr(spark_engine, "predict_pairs_on_spark", no_spark)
    con.execute(f"CREATE TABLE linkage.incoming AS SELECT * FROM {IDENTITIES_TABLE} ORDER BY unique_id DESC LIMIT 50")
    counts = predict_new_pairs(con, artefact, IDENTITIES_TABLE, "linkage.incoming", "linkage.incoming_pairs")
    assert counts["pairs_new_existing"] > 0


def test_the_exchange_folder_is_beside_the_database_file(tmp_path):
    pytest.importorskip("pyspark")  # the module imports it; the fixture says more where it matters
    from cmi_assets.linkage.spark_engine import _beside_database

    con = duckdb.connect(str(tmp_path / "identified.duckdb"))
    assert _beside_database(con) == str(tmp_path)
    assert _beside_database(duckdb.connect()) is None
