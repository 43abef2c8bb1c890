"""The whole linkage on a world from the project's generator, measured against its truth
(the issue's "Done when"; thresholds set from measured runs, see the module report)."""

import duckdb
import polars as pl
import pytest

from cmi_assets.linkage.person_records import build_person_records
from cmi_assets.linkage.quality import linkage_quality
from cmi_assets.linkage.spine import link_persons
from cmi_assets.linkage.train import train_model


@pytest.mark.slow
def test_generated_world_linkage_quality(generated_world, world_stg_loader):
    con = duckdb.connect()
    con.execute("SET memory_limit = '4GB'")
    world_stg_loader(con, generated_world / "landing")
    build_person_records(con)
    artefact = train_model(con, seed=1, u_max_pairs=3e5)
    link_persons(con, artefact, b"test-secret")
    clusters = {
        level: con.sql(
            f"SELECT unique_id, record_ref, cluster_id FROM linkage.person_clusters WHERE level = '{level}'"
        ).pl()
        for level in ("conservative", "less_conservative")
    }
    truth = pl.read_parquet(generated_world / "truth" / "record_persons.parquet")
    persons = pl.read_parquet(generated_world / "truth" / "persons.parquet")
    children = pl.read_parquet(generated_world / "truth" / "children.parquet")
    report = linkage_quality(
        con, clusters, truth, "linkage.person_records", persons, artefact["blocking_rules"], children=children
    )
    assert report["records_without_truth"] == 0
    less, cons = report["less_conservative"], report["conservative"]
    assert less["clusters"]["cluster_precision"] >= 0.98
    assert less["clusters"]["cluster_recall"] >= 0.93
    # NZ Table 4: the conservative linkage misses more and adds no more false links
    assert cons["clusters"]["cluster_recall"] < less["clusters"]["cluster_recall"]
    assert cons["pairs"]["child"]["precision"] >= less["pairs"]["child"]["precision"]
    # the issue's "Done when": less conservative child links at NZ Table 4's accuracy; the
    # sibling, twin and one-DOB guards (clustering.py) keep household look-alikes apart
    # (bench_linkage_quality.py: P 1.0000, R 0.9999 at this scale and seed; P 0.9991, R 0.9994 at seed 13;
    # P 0.9999, R 0.9974 at scale 0.005, seed 12; scales 0.015 and 0.02: BENCHMARKS.md)
    assert less["pairs"]["child"]["precision"] >= 0.999
    assert less["pairs"]["child"]["recall"] >= 0.995
    assert cons["pairs"]["child"]["precision"] >= 0.999
    assert cons["pairs"]["child"]["recall"] < less["pairs"]["child"]["recall"]
    assert set(less["by_group"]) >= {"role", "agency", "sex", "age_band", "ethnicity"}

    # NZ Table 4 (measured at scale 0.002 over seeds 11 and 13: conservative 0.960 for cohort
    # children, 0.805 with findings by age two; less conservative 0.994 / 1.000; at scale 0.02
    # over three seeds 0.953 / 0.850 against the study's 95.3 / 82.4, BENCHMARKS.md)
    def agreement(level, value):
        table = report[level]["quality_by_group"]
        return table.filter((pl.col("group") == "findings") & (pl.col("value") == value))["agreement"][0]

    assert 0.90 <= agreement("conservative", "cohort children") < agreement("less_conservative", "cohort children")
    assert agreement("conservative", "finding by age 2") < agreement("conservative", "no finding by age 2")
    assert agreement("less_conservative", "cohort children") >= 0.98
    assert set(less["quality_by_group"]["group"]) >= {"all", "findings", "sex", "age_band", "ethnicity", "agency"}
