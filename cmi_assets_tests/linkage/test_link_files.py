"""`cmi link` engine: person files in different layouts, deduplicated and linked, against
the truth of the mini world."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from cmi_assets.cli import main as cmi
from cmi_assets.linkage.file_mapping import FileInputError
from cmi_assets.linkage.link_files import link_files
from cmi_assets_tests.linkage.conftest import build_mini_world


@pytest.fixture(scope="module")
def mini_world():
    """Larger than the spine tests' world: a model of four or five fields is trained on
    these files alone, and its self-reported quality is compared with the truth."""
    return build_mini_world(n_families=1200, seed=11)


def _truth(mini_world, record_type: str, slot: str) -> pl.DataFrame:
    truth = mini_world["truth"]
    return truth.filter(pl.col("record_type") == record_type, pl.col("slot") == slot).select(
        "record_key", "true_person_id"
    )


@pytest.fixture(scope="module")
def two_files(tmp_path_factory, mini_world):
    """Birth registrations (one per child) as CSV with day-first dates and child
    protection notifications (several per child) as Parquet, each with a mother's name."""
    out = tmp_path_factory.mktemp("files")
    births = mini_world["stg_births_registrations"]
    births.select(
        pl.col("reg_number").alias("rec"),
        pl.col("child_given_names").alias("names"),
        pl.col("child_family_name").alias("surname"),
        pl.col("child_dob").dt.strftime("%d/%m/%Y").alias("born"),
        pl.col("child_sex").alias("sex"),
        pl.col("mother_given_names").alias("mum"),
    ).write_csv(out / "births.csv")
    cp = mini_world["stg_child_protection_notifications"]
    cp.select(
        pl.col("notification_id").alias("id"),
        pl.col("given_name").alias("first"),
        pl.col("family_name").alias("last"),
        pl.col("dob").alias("dob"),
        pl.col("sex").alias("gender"),
        pl.col("caregiver1_given_name").alias("carer"),
    ).write_parquet(out / "notifications.parquet")
    mapping = {
        "births.csv": {
            "id": "rec",
            "given_names": "names",
            "family_name": "surname",
            "dob": "born",
            "dob_format": "%d/%m/%Y",
            "sex": "sex",
            "parent1_given_names": "mum",
            "role": "child",
            "duplicate_free": True,
        },
        "notifications.parquet": {
            "id": "id",
            "given_name": "first",
            "family_name": "last",
            "dob": "dob",
            "sex": "gender",
            "parent1_given_names": "carer",
            "role": "child",
        },
    }
    true_ids = {
        "births.csv": _truth(mini_world, "registrations", "child"),
        "notifications.parquet": _truth(mini_world, "notifications", "person"),
    }
    return [out / "births.csv", out / "notifications.parquet"], mapping, true_ids


@pytest.fixture(scope="module")
def linked_two(two_files, tmp_path_factory):
    paths, mapping, true_ids = two_files
    out = tmp_path_factory.mktemp("linked_two")
    return link_files(paths, mapping, out), out, true_ids


def _labelled_clusters(out, true_ids) -> pl.DataFrame:
    clusters = pl.read_parquet(out / "clusters.parquet")
    return pl.concat([clusters.filter(pl.col("file") == f).join(ids, on="record_key") for f, ids in true_ids.items()])


def _true_record_pairs(labelled: pl.DataFrame) -> pl.DataFrame:
    """Every unordered pair of records of one person (a, b as file/key strings)."""
    nodes = labelled.select(pl.concat_str("file", "record_key", separator="|").alias("node"), "true_person_id")
    pairs = nodes.join(nodes, on="true_person_id", suffix="_r").filter(pl.col("node") < pl.col("node_r"))
    return pairs.select(pl.col("node").alias("a"), pl.col("node_r").alias("b"))


def _kept_record_pairs(out, level: str) -> pl.DataFrame:
    """Flagged record pairs whose records the clusters keep together."""
    clusters = pl.read_parquet(out / "clusters.parquet").select(
        "file", "record_key", pl.col(f"cluster_id_{level}").alias("c")
    )
    pairs = (
        pl.read_parquet(out / "pairs.parquet")
        .filter(pl.col(f"is_link_{level}"))
        .join(clusters, left_on=["file_l", "record_key_l"], right_on=["file", "record_key"])
        .join(clusters, left_on=["file_r", "record_key_r"], right_on=["file", "record_key"], suffix="_r")
        .filter(pl.col("c") == pl.col("c_r"))
    )
    l, r = (
        pl.concat_str("file_l", "record_key_l", separator="|"),
        pl.concat_str("file_r", "record_key_r", separator="|"),
    )
    return pairs.select(pl.min_horizontal(l, r).alias("a"), pl.max_horizontal(l, r).alias("b")).unique()


def test_link_two_files_against_truth(linked_two):
    summary, out, true_ids = linked_two
    assert summary["mode"] == "link" and summary["guards"].startswith("on (family fields mapped")
    assert {f: s["records"] for f, s in summary["files"].items()} == {f: ids.height for f, ids in true_ids.items()}
    labelled = _labelled_clusters(out, true_ids)
    assert labelled.height == pl.read_parquet(out / "clusters.parquet").height
    # every notification of a registered child joins its registration
    notes = labelled.filter(pl.col("file") == "notifications.parquet")
    registered = labelled.filter(pl.col("file") == "births.csv").select(
        "true_person_id", pl.col("cluster_id_less_conservative").alias("reg")
    )
    joined = notes.join(registered, on="true_person_id")
    assert (joined["cluster_id_less_conservative"] == joined["reg"]).mean() >= 0.95
    purity = labelled.group_by("cluster_id_less_conservative").agg(pl.col("true_person_id").n_unique())
    assert (purity["true_person_id"] == 1).mean() >= 0.98
    pairs = pl.read_parquet(out / "pairs.parquet")
    assert {"match_probability", "file_l", "file_r", "same_identity", "is_link_less_conservative"} <= set(pairs.columns)
    assert not any(c.startswith(("given", "family", "dob", "names")) for c in pairs.columns)  # keys and scores only
    # the counts split by where the pair lies add up to what was written
    assert (
        summary["record_pairs_cross_file"] + summary["record_pairs_within_file"]
        == summary["record_pairs"]
        == pairs.height
    )
    assert summary["record_pairs_cross_file"] == pairs.filter(pl.col("file_l") != pl.col("file_r")).height


def test_duplicate_free_file_holds_one_record_per_cluster(linked_two):
    summary, out, true_ids = linked_two
    clusters = pl.read_parquet(out / "clusters.parquet")
    for level in ("conservative", "less_conservative"):
        per_cluster = clusters.filter(pl.col("file") == "births.csv").group_by(f"cluster_id_{level}").len()
        assert per_cluster["len"].max() == 1
    # the register is per file: the notifications (not duplicate-free) still collapse
    notes = clusters.filter(pl.col("file") == "notifications.parquet")
    assert notes["cluster_id_less_conservative"].n_unique() < notes.height
    assert (
        summary["files"]["births.csv"]["duplicate_free"]
        and not summary["files"]["notifications.parquet"]["duplicate_free"]
    )
    # no scored pair lies inside the duplicate-free file
    pairs = pl.read_parquet(out / "pairs.parquet")
    assert pairs.filter((pl.col("file_l") == "births.csv") & (pl.col("file_r") == "births.csv")).height == 0


def test_split_links_explain_every_flag_the_clusters_keep_apart(linked_two):
    summary, out, _ = linked_two
    split = pl.read_parquet(out / "split_links.parquet")
    clusters = pl.read_parquet(out / "clusters.parquet")
    pairs = pl.read_parquet(out / "pairs.parquet")
    for level in ("conservative", "less_conservative"):
        cluster = f"cluster_id_{level}"
        flagged = (
            pairs.filter(pl.col(f"is_link_{level}"))
            .join(
                clusters.select("file", "record_key", pl.col(cluster).alias("c_l")),
                left_on=["file_l", "record_key_l"],
                right_on=["file", "record_key"],
            )
            .join(
                clusters.select("file", "record_key", pl.col(cluster).alias("c_r")),
                left_on=["file_r", "record_key_r"],
                right_on=["file", "record_key"],
            )
        )
        apart = flagged.filter(pl.col("c_l") != pl.col("c_r")).height
        assert apart == split.filter(pl.col("level") == level).height
        assert sum(summary["split_links"][level].values()) == apart


def test_expected_quality_close_to_the_truth(linked_two):
    """Precision within a point of the truth; recall within three, because its denominator
    (every true pair, scored or not) rests on the model's probabilities for pairs no
    decision was taken on, and a naive-Bayes model is over-confident about siblings
    sharing a family name and a mother (BENCHMARKS.md tracks the gap)."""
    summary, out, true_ids = linked_two
    truth = _true_record_pairs(_labelled_clusters(out, true_ids))
    scored = pl.read_parquet(out / "pairs.parquet")
    scored = scored.select(
        pl.min_horizontal(
            pl.concat_str("file_l", "record_key_l", separator="|"),
            pl.concat_str("file_r", "record_key_r", separator="|"),
        ).alias("a"),
        pl.max_horizontal(
            pl.concat_str("file_l", "record_key_l", separator="|"),
            pl.concat_str("file_r", "record_key_r", separator="|"),
        ).alias("b"),
    )
    true_blocking_recall = scored.join(truth, on=["a", "b"], how="semi").height / truth.height
    assert true_blocking_recall < 0.99  # there is a blocking loss to estimate
    assert abs(summary["expected_quality"]["expected_blocking_recall"] - true_blocking_recall) <= 0.01
    for level in ("conservative", "less_conservative"):
        kept = _kept_record_pairs(out, level)
        correct = kept.join(truth, on=["a", "b"], how="semi").height
        expected = summary["expected_quality"][level]
        assert abs(expected["precision"] - correct / kept.height) <= 0.01, level
        assert abs(expected["recall"] - correct / truth.height) <= 0.03, level


def _children(mini_world) -> pl.DataFrame:
    """Registered children, one row each, with their true person and the family postcode."""
    births = mini_world["stg_births_registrations"].join(
        _truth(mini_world, "registrations", "child"), left_on="reg_number", right_on="record_key"
    )
    return births.select(
        "reg_number",
        pl.col("child_given_names").str.split(" ").list.first().alias("given"),
        pl.col("child_family_name").alias("family"),
        pl.col("child_dob").alias("dob"),
        "postcode",
        "true_person_id",
    )


def test_dedupe_one_file(tmp_path, mini_world):
    """One file holding several notifications per child is deduplicated on its own."""
    cp = mini_world["stg_child_protection_notifications"].select(
        "notification_id", "given_name", "family_name", "dob", "sex"
    )
    cp.write_csv(tmp_path / "cp.csv")
    mapping = {
        "id": "notification_id",
        "given_name": "given_name",
        "family_name": "family_name",
        "dob": "dob",
        "sex": "sex",
    }
    summary = link_files([tmp_path / "cp.csv"], mapping, tmp_path / "out")
    assert summary["mode"] == "dedupe" and summary["record_pairs_cross_file"] == 0
    labelled = _labelled_clusters(tmp_path / "out", {"cp.csv": _truth(mini_world, "notifications", "person")})
    per_person = labelled.group_by("true_person_id").agg(
        pl.col("cluster_id_less_conservative").n_unique().alias("clusters")
    )
    # four fields only (given, family, DOB, sex): twins and siblings are the errors left
    assert (per_person["clusters"] == 1).mean() >= 0.93
    assert summary["clusters_less_conservative"] <= 1.07 * per_person.height
    purity = labelled.group_by("cluster_id_less_conservative").agg(pl.col("true_person_id").n_unique())
    assert (purity["true_person_id"] == 1).mean() >= 0.97


def test_both_files_duplicate_free_still_link_across(tmp_path, mini_world):
    children = _children(mini_world)
    children.select(
        "reg_number", "given", "family", pl.col("dob").dt.strftime("%Y%m%d").alias("dob"), "postcode"
    ).write_csv(tmp_path / "a.csv")
    children.select(
        pl.col("reg_number").alias("key"),
        "given",
        "family",
        pl.col("dob").dt.strftime("%Y%m%d").alias("dob"),
        "postcode",
    ).write_csv(tmp_path / "b.csv")
    mapping = {
        "given_name": "given",
        "family_name": "family",
        "dob": "dob",
        "dob_format": "%Y%m%d",
        "postcode": "postcode",
        "duplicate_free": True,
        "a.csv": {"id": "reg_number"},
        "b.csv": {"id": "key"},
    }
    summary = link_files([tmp_path / "a.csv", tmp_path / "b.csv"], mapping, tmp_path / "out")
    clusters = pl.read_parquet(tmp_path / "out" / "clusters.parquet")
    sizes = clusters.group_by("cluster_id_less_conservative").agg(pl.col("file").sort())
    assert sizes.height == children.height  # each child's two records together, and only those
    assert all(files == ["a.csv", "b.csv"] for files in sizes["file"].to_list())
    assert summary["links_less_conservative_within_file"] == 0
    # flags the one-record rule overrode are listed, not lost
    overridden = summary["links_less_conservative_cross_file"] - children.height
    assert summary["split_links"]["less_conservative"].get("one record per duplicate-free file", 0) == overridden


def _scrambled(children: pl.DataFrame, rng: np.random.Generator, share: float) -> tuple[pl.DataFrame, set[str]]:
    """A copy where a share of the children have another child's family name and a DOB
    years out: nothing but an identifier could join them."""
    chosen = rng.random(children.height) < share
    families = children["family"].to_numpy().copy()
    other = np.roll(families, 7)
    frame = children.with_columns(
        pl.when(pl.Series(chosen)).then(pl.Series(other)).otherwise(pl.col("family")).alias("family"),
        pl.when(pl.Series(chosen))
        .then(pl.col("dob") - dt.timedelta(days=3 * 365 + 40))
        .otherwise(pl.col("dob"))
        .alias("dob"),
    )
    return frame, set(children.filter(pl.Series(chosen))["reg_number"].to_list())


def test_shared_id_links_across_files(tmp_path, mini_world):
    children = _children(mini_world).with_columns(pl.format("NHI{}", pl.col("true_person_id")).alias("nhi"))
    left = children.select("reg_number", "given", "family", pl.col("dob").dt.strftime("%Y-%m-%d").alias("dob"), "nhi")
    right, scrambled = _scrambled(children, np.random.default_rng(3), 0.15)
    left.write_csv(tmp_path / "left.csv")
    right.select(
        pl.format("X{}", pl.col("reg_number")).alias("case"),
        "given",
        "family",
        pl.col("dob").dt.strftime("%Y-%m-%d").alias("dob"),
        pl.col("nhi").alias("health_id"),
    ).write_csv(tmp_path / "right.csv")
    base = {
        "given_name": "given",
        "family_name": "family",
        "dob": "dob",
        "duplicate_free": True,
        "left": {"id": "reg_number"},
        "right": {"id": "case"},
    }

    def joined_share(mapping, out) -> float:
        summary = link_files([tmp_path / "left.csv", tmp_path / "right.csv"], mapping, out)
        assert ("shared_id" in summary["fields_compared"]) == ("shared_id" in mapping["left"])
        clusters = pl.read_parquet(out / "clusters.parquet").with_columns(pl.col("record_key").str.strip_prefix("X"))
        both = (
            clusters.filter(pl.col("record_key").is_in(list(scrambled)))
            .group_by("record_key")
            .agg(pl.col("cluster_id_less_conservative").n_unique().alias("n"))
        )
        return (both["n"] == 1).mean()

    with_id = joined_share(
        {**base, "left": {**base["left"], "shared_id": "nhi"}, "right": {**base["right"], "shared_id": "health_id"}},
        tmp_path / "with_id",
    )
    without_id = joined_share(base, tmp_path / "without_id")
    assert with_id >= 0.85
    assert without_id <= 0.3  # the scrambled records only meet through the identifier


def test_swapped_names_and_double_typos_are_found_by_blocking(tmp_path, mini_world):
    """Given and family names written the other way round, or a typo in the family name
    together with one in the DOB's day, with no postcode in common: only the rules on
    swapped names and on a name's sound with the birth year bring these pairs to the model."""
    children = _children(mini_world)
    rng = np.random.default_rng(5)
    draw = rng.random(children.height)
    swapped, typo = pl.Series(draw < 0.08), pl.Series((draw >= 0.08) & (draw < 0.16))
    day_keyed_wrong = (
        pl.when(pl.col("dob").dt.day() > 1)
        .then(pl.col("dob") - dt.timedelta(days=1))
        .otherwise(pl.col("dob") + dt.timedelta(days=1))
    )
    right = children.with_columns(
        pl.when(swapped).then(pl.col("family")).otherwise(pl.col("given")).alias("given"),
        # a doubled letter: the same sound, a different spelling
        pl.when(swapped)
        .then(pl.col("given"))
        .when(typo)
        .then(pl.col("family").str.slice(0, 2) + pl.col("family").str.slice(1))
        .otherwise(pl.col("family"))
        .alias("family"),
        pl.when(swapped | typo).then(day_keyed_wrong).otherwise(pl.col("dob")).alias("dob"),
        pl.when(swapped | typo).then(pl.lit(None, pl.String)).otherwise(pl.col("postcode")).alias("postcode"),
    )
    children.select("reg_number", "given", "family", "dob", "postcode").write_csv(tmp_path / "left.csv")
    right.select(
        pl.format("X{}", pl.col("reg_number")).alias("reg_number"), "given", "family", "dob", "postcode"
    ).write_csv(tmp_path / "right.csv")
    mapping = {
        "id": "reg_number",
        "given_name": "given",
        "family_name": "family",
        "dob": "dob",
        "postcode": "postcode",
        "duplicate_free": True,
    }
    link_files([tmp_path / "left.csv", tmp_path / "right.csv"], mapping, tmp_path / "out")
    pairs = pl.read_parquet(tmp_path / "out" / "pairs.parquet").filter(pl.col("file_l") != pl.col("file_r"))
    keys = pairs.select(
        pl.min_horizontal(
            pl.col("record_key_l").str.strip_prefix("X"), pl.col("record_key_r").str.strip_prefix("X")
        ).alias("k"),
        pl.col("record_key_l").str.strip_prefix("X").eq(pl.col("record_key_r").str.strip_prefix("X")).alias("same"),
        "is_link_less_conservative",
    )
    # pairs.parquet holds the blocked pairs scored at 0.001 or more. A swap keeps both names
    # whole and links; whether a double typo should link is the model's call, and on files
    # that are otherwise exact copies of each other it learns that any difference is rare
    # among matches: this test asks only that blocking brings the pairs to it.
    found = {}
    for name, changed in (("swapped", swapped), ("typo", typo)):
        changed_keys = children.filter(changed)["reg_number"]
        found[name] = keys.filter(pl.col("same") & pl.col("k").is_in(changed_keys.to_list()))
        assert found[name].height >= (1.0 if name == "swapped" else 0.95) * changed_keys.len(), name
    assert found["swapped"]["is_link_less_conservative"].mean() >= 0.9


def test_guards_do_not_fire_without_family_fields(tmp_path, mini_world):
    """Without parents' names or a register of children the twin and sibling guards have
    no evidence: they are off, said so, and split nothing; asked for, they do split."""
    cp = mini_world["stg_child_protection_notifications"].select(
        "notification_id", "given_name", "family_name", "dob", "sex"
    )
    cp.write_csv(tmp_path / "cp.csv")
    mapping = {
        "id": "notification_id",
        "given_name": "given_name",
        "family_name": "family_name",
        "dob": "dob",
        "sex": "sex",
    }
    auto = link_files([tmp_path / "cp.csv"], mapping, tmp_path / "auto")
    assert auto["guards"].startswith("off")
    reasons = pl.read_parquet(tmp_path / "auto" / "split_links.parquet")["reason"]
    assert not any(r.startswith("guard") or r == "whole-cluster guard" for r in reasons)
    forced = link_files([tmp_path / "cp.csv"], {**mapping, "guards": "on"}, tmp_path / "on")
    assert forced["guards"].startswith("on")
    assert (
        forced["links_less_conservative"] < auto["links_less_conservative"]
        or sum(forced["split_links"]["less_conservative"].values()) > 0
    )


def test_wrong_dob_format_stops_with_the_file_field_count_and_format(two_files, tmp_path):
    paths, mapping, _ = two_files
    bad = {**mapping, "births.csv": {**mapping["births.csv"], "dob_format": "%Y-%m-%d"}}
    with pytest.raises(FileInputError) as raised:
        link_files(paths, bad, tmp_path / "out")
    message = str(raised.value)
    n = pl.read_csv(paths[0]).height
    assert str(paths[0]) in message and "'dob'" in message and "'born'" in message and f"{n} of {n}" in message
    assert "'%Y-%m-%d'" in message and "\n" not in message
    assert not (tmp_path / "out" / "clusters.parquet").exists()


def test_a_few_bad_dates_are_counted_not_fatal(tmp_path, mini_world):
    children = _children(mini_world)
    dob = children["dob"].dt.strftime("%Y-%m-%d").to_list()
    dob[0], dob[1] = "2010-13-01", "2011-02-30"
    children.with_columns(pl.Series("dob", dob)).select("reg_number", "given", "family", "dob").write_csv(
        tmp_path / "a.csv"
    )
    summary = link_files(
        [tmp_path / "a.csv"],
        {"id": "reg_number", "given_name": "given", "family_name": "family", "dob": "dob"},
        tmp_path / "out",
    )
    assert summary["files"]["a.csv"]["dates_not_parsed"] == {"dob": 2}


MAPPING_ERRORS = {
    "unknown field": ("id: rec\nfirst_name: names\n", "unknown fields in the mapping: first_name"),
    "missing column": (
        "id: rec\ngiven_names: names\nfamily_name: no_such_column\n",
        "column 'no_such_column' is not in the file",
    ),
    "list for a one-column field": (
        "id: rec\nfamily_name: [surname, names]\n",
        "'family_name' in the mapping must be one column name",
    ),
    "no id": ("given_names: names\n", "needs an 'id' column"),
    "bad role": ("id: rec\nrole: parent\n", "role must be child or adult"),
    "bad guards": ("id: rec\nguards: maybe\n", "guards must be on, off or auto"),
    "section not a mapping": ("id: rec\nleft: births\n", "section 'left' must be a mapping"),
    "not yaml": ("id: [rec\n", "not a readable YAML mapping"),
    "a list, not a mapping": ("- id\n- rec\n", "must be a YAML mapping"),
    "duplicate key column": ("id: sex\ngiven_names: names\n", "field 'sex': record key is not unique"),
}


@pytest.mark.parametrize("case", list(MAPPING_ERRORS))
def test_every_mapping_error_is_one_line_naming_the_file(case, two_files, tmp_path):
    paths, _, _ = two_files
    text, expected = MAPPING_ERRORS[case]
    (tmp_path / "m.yaml").write_text(text)
    result = CliRunner().invoke(
        cmi, ["link", str(paths[0]), "--mapping", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code != 0
    message = result.output.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    assert expected in message
    named = tmp_path / "m.yaml" if case in ("not yaml", "a list, not a mapping", "bad guards") else paths[0]
    assert str(named) in message


def test_mapping_from_yaml_runs_from_the_command_line(two_files, tmp_path):
    paths, mapping, _ = two_files
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping))
    result = CliRunner().invoke(
        cmi, ["link", *map(str, paths), "--mapping", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert '"mode": "link"' in result.output
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "pairs.parquet",
        "clusters.parquet",
        "split_links.parquet",
    }
