"""Linkage quality against the synthetic world's truth (record slot -> true person).

- Pairwise precision, recall and F1 of the clusters (every pair of records put in one
  cluster is a predicted link; every pair of one true person's records a true link), for
  children's records, adults' records and child-adult pairs, and by source pair.
- Person-level (cluster) measures: the share of predicted clusters holding one person
  only (cluster precision), the share of true persons whose records sit in one cluster
  (cluster recall), and the share of persons linked exactly right (the NZ clerical
  check's "agreement", Table 4), by group (sex, age band, ethnicity, agency).
- Blocking recall: the share of true pairs of identities (records equal on every
  compared field, the units Splink scores) that any prediction blocking rule generates.

Pair counts come from group sizes (n choose 2), never by listing pairs, so a person with
hundreds of records costs nothing. Results are counts and rates only.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

ROLE_CLASSES = ("child", "adult", "child_adult")
# When a one-person record's slot is unnamed and the truth lists several slots for the
# record (a benefit spell's client and partner), the record is about the first of these.
PRIMARY_SLOT_NAMES = ("child", "client", "patient", "offender", "person")
AGE_BANDS = ((0, 5, "0-4"), (5, 18, "5-17"), (18, 25, "18-24"), (25, 35, "25-34"), (35, 200, "35+"))


def attach_truth(records: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """records (agency, record_type, record_key, slot, ...) with true_person_id.

    Slots are matched by name first; a record whose slot name the truth does not use
    (the specs name no slots, so a one-person record is "person" here and perhaps
    "client" in the truth) takes the only truth slot of its record left unmatched, or
    else the first free one in PRIMARY_SLOT_NAMES."""
    keys = ["agency", "record_type", "record_key"]
    truth = truth.select(*keys, "slot", pl.col("true_person_id").cast(pl.Int64)).unique(keys + ["slot"])
    exact = records.join(truth, on=keys + ["slot"], how="left")
    matched = exact.filter(pl.col("true_person_id").is_not_null())
    unmatched = exact.filter(pl.col("true_person_id").is_null()).drop("true_person_id")
    if unmatched.is_empty():
        return matched
    used = matched.select(*keys, "slot")
    free_truth = truth.join(used, on=keys + ["slot"], how="anti")
    rank = {name: i for i, name in enumerate(PRIMARY_SLOT_NAMES)}
    one_free = (
        free_truth.with_columns(
            pl.col("slot").replace_strict(rank, default=len(rank), return_dtype=pl.Int64).alias("_rank"),
            pl.len().over(keys).alias("_free"),
        )
        .filter((pl.col("_free") == 1) | (pl.col("_rank") < len(rank)))
        .sort("_rank")
        .unique(keys, keep="first")
        .drop("slot", "_rank", "_free")
    )
    one_left = unmatched.filter(pl.len().over(keys) == 1)
    aligned = one_left.join(one_free, on=keys, how="left")
    rest = unmatched.join(one_left.select(keys), on=keys, how="anti").with_columns(
        pl.lit(None, pl.Int64).alias("true_person_id")
    )
    return pl.concat([matched, aligned, rest], how="diagonal_relaxed")


def _choose2(n: pl.Expr) -> pl.Expr:
    return n * (n - 1) // 2


def _prf(tp: int, predicted: int, true: int) -> dict[str, float | int]:
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true_pairs": int(true),
        "predicted_pairs": int(predicted),
        "correct_pairs": int(tp),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _pair_counts_by_role(frame: pl.DataFrame, group: list[str]) -> dict[str, int]:
    """Pairs inside each group of `group` columns, by role class."""
    counts = frame.group_by(group).agg(
        (pl.col("role") == "child").sum().alias("c"), (pl.col("role") != "child").sum().alias("a")
    )
    row = counts.select(
        _choose2(pl.col("c")).sum().alias("child"),
        _choose2(pl.col("a")).sum().alias("adult"),
        (pl.col("c") * pl.col("a")).sum().alias("child_adult"),
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def pair_metrics(labelled: pl.DataFrame) -> dict[str, dict]:
    """Pairwise P/R/F1 by role class and overall. labelled: cluster_id, true_person_id, role."""
    frame = labelled.filter(pl.col("true_person_id").is_not_null())
    predicted = _pair_counts_by_role(frame, ["cluster_id"])
    true = _pair_counts_by_role(frame, ["true_person_id"])
    correct = _pair_counts_by_role(frame, ["cluster_id", "true_person_id"])
    out = {role: _prf(correct[role], predicted[role], true[role]) for role in ROLE_CLASSES}
    out["all"] = _prf(sum(correct.values()), sum(predicted.values()), sum(true.values()))
    return out


def _pairs_by_source(frame: pl.DataFrame, group: list[str]) -> pl.DataFrame:
    counts = frame.group_by(group + ["source_dataset"]).len()
    pairs = counts.join(counts, on=group, suffix="_r").filter(pl.col("source_dataset") <= pl.col("source_dataset_r"))
    return (
        pairs.with_columns(
            pl.when(pl.col("source_dataset") == pl.col("source_dataset_r"))
            .then(_choose2(pl.col("len")))
            .otherwise(pl.col("len") * pl.col("len_r"))
            .alias("pairs")
        )
        .group_by("source_dataset", "source_dataset_r")
        .agg(pl.col("pairs").sum())
    )


def pair_metrics_by_source_pair(labelled: pl.DataFrame) -> pl.DataFrame:
    """Pairwise P/R/F1 for each pair of sources (a source with itself: duplicates within it)."""
    frame = labelled.filter(pl.col("true_person_id").is_not_null())
    keys = ["source_dataset", "source_dataset_r"]
    predicted = _pairs_by_source(frame, ["cluster_id"]).rename({"pairs": "predicted_pairs"})
    true = _pairs_by_source(frame, ["true_person_id"]).rename({"pairs": "true_pairs"})
    correct = _pairs_by_source(frame, ["cluster_id", "true_person_id"]).rename({"pairs": "correct_pairs"})
    out = (
        predicted.join(true, on=keys, how="full", coalesce=True)
        .join(correct, on=keys, how="full", coalesce=True)
        .fill_null(0)
    )
    return out.with_columns(
        pl.when(pl.col("predicted_pairs") > 0)
        .then(pl.col("correct_pairs") / pl.col("predicted_pairs"))
        .otherwise(1.0)
        .alias("precision"),
        pl.when(pl.col("true_pairs") > 0)
        .then(pl.col("correct_pairs") / pl.col("true_pairs"))
        .otherwise(1.0)
        .alias("recall"),
    ).sort(keys)


def person_outcomes(labelled: pl.DataFrame) -> pl.DataFrame:
    """One row per true person: split (records in 2+ clusters), merged (a cluster of
    theirs holds another person's record), agrees (neither: linked exactly right)."""
    frame = labelled.filter(pl.col("true_person_id").is_not_null())
    cluster_people = frame.group_by("cluster_id").agg(pl.col("true_person_id").n_unique().alias("people_in_cluster"))
    per_person = (
        frame.join(cluster_people, on="cluster_id")
        .group_by("true_person_id")
        .agg(
            pl.col("cluster_id").n_unique().alias("clusters"),
            (pl.col("people_in_cluster").max() > 1).alias("merged"),
            pl.len().alias("records"),
            (pl.col("role") == "child").any().alias("has_child_record"),
            pl.col("agency").unique().sort().alias("agencies"),
        )
        .with_columns((pl.col("clusters") > 1).alias("split"))
        .with_columns((~pl.col("split") & ~pl.col("merged")).alias("agrees"))
    )
    return per_person


def cluster_metrics(labelled: pl.DataFrame) -> dict[str, float | int]:
    frame = labelled.filter(pl.col("true_person_id").is_not_null())
    purity = frame.group_by("cluster_id").agg(pl.col("true_person_id").n_unique().alias("people"))
    persons = person_outcomes(labelled)
    return {
        "clusters": purity.height,
        "cluster_precision": float((purity["people"] == 1).mean()) if purity.height else 1.0,
        "persons": persons.height,
        "cluster_recall": float((~persons["split"]).mean()) if persons.height else 1.0,
        "person_agreement": float(persons["agrees"].mean()) if persons.height else 1.0,
    }


def age_band(expr: pl.Expr) -> pl.Expr:
    out = pl.lit(None, pl.String)
    for low, high, label in reversed(AGE_BANDS):
        out = pl.when((expr >= low) & (expr < high)).then(pl.lit(label)).otherwise(out)
    return out


def person_agreement_by_group(
    labelled: pl.DataFrame, persons: pl.DataFrame | None = None, reference_date: dt.date = dt.date(2021, 9, 30)
) -> dict[str, pl.DataFrame]:
    """Share of persons linked exactly right, split and merged, by sex, age band and
    ethnicity (from the truth persons table: true_person_id, sex, dob, ethnicity) and by
    agency (a person counts under every agency holding a record of theirs)."""
    outcomes = person_outcomes(labelled)
    tables = {}
    summary = [
        pl.len().alias("persons"),
        pl.col("agrees").mean().alias("agreement"),
        pl.col("split").mean().alias("split_rate"),
        pl.col("merged").mean().alias("merged_rate"),
    ]
    tables["role"] = (
        outcomes.with_columns(
            pl.when(pl.col("has_child_record")).then(pl.lit("child")).otherwise(pl.lit("adult")).alias("role")
        )
        .group_by("role")
        .agg(summary)
        .sort("role")
    )
    tables["agency"] = (
        outcomes.explode("agencies").rename({"agencies": "agency"}).group_by("agency").agg(summary).sort("agency")
    )
    if persons is not None:
        p = persons.rename({"pid": "true_person_id"}) if "pid" in persons.columns else persons
        p = p.with_columns(pl.col("true_person_id").cast(pl.Int64))
        joined = outcomes.join(p, on="true_person_id", how="left")
        if "sex" in p.columns:
            tables["sex"] = joined.group_by("sex").agg(summary).sort("sex", nulls_last=True)
        if "dob" in p.columns:
            age = (pl.lit(reference_date) - pl.col("dob")).dt.total_days() / 365.25
            tables["age_band"] = (
                joined.with_columns(age_band(age).alias("age_band")).group_by("age_band").agg(summary).sort("age_band")
            )
        if "ethnicity" in p.columns:
            eth = joined.with_columns(pl.col("ethnicity").str.split(";")).explode("ethnicity")
            tables["ethnicity"] = eth.group_by("ethnicity").agg(summary).sort("ethnicity", nulls_last=True)
    return tables


PERSON_CLASSES = ("child", "adult")
FINDINGS_AGE = 2  # NZ Table 4: children with and without findings of maltreatment by age two


def person_groups(
    labelled: pl.DataFrame,
    persons: pl.DataFrame | None = None,
    children: pl.DataFrame | None = None,
    reference_date: dt.date = dt.date(2021, 9, 30),
) -> pl.DataFrame:
    """One row per true person and group they belong to (person_class, group, value):
    person_class child or adult (the truth's role, else whether they hold a child's
    record); groups sex, age_band, ethnicity (each listed ethnicity), agency (each agency
    holding a record of theirs) and, for the cohort children of the truth's children table
    (study population), findings (with or without findings of maltreatment by age two, as
    NZ Table 4)."""
    frame = labelled.filter(pl.col("true_person_id").is_not_null())
    base = frame.group_by("true_person_id").agg(
        (pl.col("role") == "child").any().alias("has_child_record"), pl.col("agency").unique().alias("agencies")
    )
    if persons is not None:
        p = persons.rename({"pid": "true_person_id"}) if "pid" in persons.columns else persons
        base = base.join(p.with_columns(pl.col("true_person_id").cast(pl.Int64)), on="true_person_id", how="left")
    is_child = pl.col("role") == "child" if "role" in base.columns else pl.col("has_child_record")
    base = base.with_columns(
        pl.when(is_child.fill_null(pl.col("has_child_record")))
        .then(pl.lit("child"))
        .otherwise(pl.lit("adult"))
        .alias("person_class")
    )
    keys = ["true_person_id", "person_class"]
    tables = [
        base.select(*keys, pl.lit("all").alias("group"), pl.lit("all").alias("value")),
        base.select(*keys, pl.lit("agency").alias("group"), pl.col("agencies").alias("value")).explode("value"),
    ]
    if "sex" in base.columns:
        tables.append(base.select(*keys, pl.lit("sex").alias("group"), pl.col("sex").cast(pl.String).alias("value")))
    if "dob" in base.columns:
        age = (pl.lit(reference_date) - pl.col("dob")).dt.total_days() / 365.25
        tables.append(base.select(*keys, pl.lit("age_band").alias("group"), age_band(age).alias("value")))
    if "ethnicity" in base.columns:
        tables.append(
            base.select(
                *keys, pl.lit("ethnicity").alias("group"), pl.col("ethnicity").str.split(";").alias("value")
            ).explode("value")
        )
    if children is not None:
        finding = f"finding_by_age_{FINDINGS_AGE}"
        cohort = (
            children.filter(pl.col("in_study_population")) if "in_study_population" in children.columns else children
        )
        cohort = cohort.filter(pl.col(finding).is_not_null()).select(
            pl.col("true_person_id").cast(pl.Int64), finding
        )  # old enough to tell
        cohort = base.select("true_person_id").join(cohort, on="true_person_id")
        label = (
            pl.when(pl.col(finding))
            .then(pl.lit(f"finding by age {FINDINGS_AGE}"))
            .otherwise(pl.lit(f"no finding by age {FINDINGS_AGE}"))
        )
        for value in (label, pl.lit("cohort children")):
            tables.append(
                cohort.select(
                    "true_person_id",
                    pl.lit("child").alias("person_class"),
                    pl.lit("findings").alias("group"),
                    value.alias("value"),
                )
            )
    return pl.concat(
        [t.with_columns(pl.col("value").fill_null("unknown")) for t in tables], how="vertical_relaxed"
    ).unique()


def quality_by_group(labelled: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """Pairwise and person-level (cluster) precision, recall and F1 for each person class
    and group value (person_groups). labelled: cluster_id, true_person_id, role, agency.

    Pairs: the true pairs of the group's persons; the predicted pairs with at least one
    record of theirs (a false link to someone outside the group counts against it); the
    correct ones. Clusters: cluster precision is the share of the clusters holding a
    record of the group's persons that hold one person only; cluster recall the share of
    the group's persons whose records sit in one cluster; agreement the share linked
    exactly right (neither split nor merged: NZ Table 4's clerical agreement)."""
    frame = labelled.filter(pl.col("true_person_id").is_not_null()).select("cluster_id", "true_person_id")
    key = ["person_class", "group", "value"]
    cells = frame.group_by("cluster_id", "true_person_id").len("n")
    cluster_sizes = cells.group_by("cluster_id").agg(pl.col("n").sum().alias("cluster_n"), pl.len().alias("people"))
    person_sizes = cells.group_by("true_person_id").agg(pl.col("n").sum().alias("person_n"), pl.len().alias("clusters"))
    member_cells = cells.join(groups, on="true_person_id")
    choose2 = lambda e: e * (e - 1) // 2  # noqa: E731
    correct = member_cells.group_by(key).agg(choose2(pl.col("n")).sum().alias("correct_pairs"))
    true = (
        groups.join(person_sizes, on="true_person_id")
        .group_by(key)
        .agg(choose2(pl.col("person_n")).sum().alias("true_pairs"))
    )
    in_cluster = (
        member_cells.group_by(*key, "cluster_id")
        .agg(pl.col("n").sum().alias("group_n"))
        .join(cluster_sizes, on="cluster_id")
    )
    predicted = in_cluster.group_by(key).agg(
        (choose2(pl.col("cluster_n")) - choose2(pl.col("cluster_n") - pl.col("group_n")))
        .sum()
        .alias("predicted_pairs"),
        pl.len().alias("clusters"),
        (pl.col("people") == 1).sum().alias("pure_clusters"),
    )
    outcomes = person_outcomes(labelled).select("true_person_id", "split", "merged", "agrees")
    persons = (
        groups.join(outcomes, on="true_person_id")
        .group_by(key)
        .agg(
            pl.len().alias("persons"),
            (~pl.col("split")).sum().alias("unsplit_persons"),
            pl.col("agrees").sum().alias("agreeing_persons"),
        )
    )
    out = (
        persons.join(true, on=key, how="left")
        .join(correct, on=key, how="left")
        .join(predicted, on=key, how="left")
        .fill_null(0)
    )

    def ratio(num: str, den: str) -> pl.Expr:
        return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(1.0)

    def f1(p: str, r: str) -> pl.Expr:
        return (
            pl.when(pl.col(p) + pl.col(r) > 0).then(2 * pl.col(p) * pl.col(r) / (pl.col(p) + pl.col(r))).otherwise(0.0)
        )

    out = out.with_columns(
        ratio("correct_pairs", "predicted_pairs").alias("pair_precision"),
        ratio("correct_pairs", "true_pairs").alias("pair_recall"),
        ratio("pure_clusters", "clusters").alias("cluster_precision"),
        ratio("unsplit_persons", "persons").alias("cluster_recall"),
        ratio("agreeing_persons", "persons").alias("agreement"),
    ).with_columns(
        f1("pair_precision", "pair_recall").alias("pair_f1"),
        f1("cluster_precision", "cluster_recall").alias("cluster_f1"),
    )
    return out.sort(key)


def blocking_recall(
    con: duckdb.DuckDBPyConnection, records_table: str, truth_ids: pl.DataFrame, blocking_rules: dict[str, str]
) -> dict[str, float | int]:
    """Share of true pairs (two records of one person) generated by at least one
    prediction blocking rule, and by each rule alone. truth_ids: unique_id, true_person_id."""
    con.register("_cmi_truth_ids", truth_ids.select("unique_id", "true_person_id"))
    try:
        rule_columns = ", ".join(f'({rule}) AS "{name}"' for name, rule in blocking_rules.items())
        any_rule = " OR ".join(f'coalesce("{name}", FALSE)' for name in blocking_rules)
        row = con.execute(
            f"""
            WITH rec AS (SELECT r.*, t.true_person_id FROM {records_table} r JOIN _cmi_truth_ids t USING (unique_id)),
            pairs AS (SELECT {rule_columns} FROM rec l JOIN rec r
                      ON l.true_person_id = r.true_person_id AND l.unique_id < r.unique_id)
            SELECT count(*), count(*) FILTER (WHERE {any_rule}),
                   {", ".join(f'count(*) FILTER (WHERE coalesce("{n}", FALSE))' for n in blocking_rules)}
            FROM pairs
            """
        ).fetchone()
    finally:
        con.unregister("_cmi_truth_ids")
    total = int(row[0])
    return {
        "true_pairs": total,
        "blocked_true_pairs": int(row[1]),
        "blocking_recall": row[1] / total if total else 1.0,
        "by_rule": {name: (row[2 + i] / total if total else 1.0) for i, name in enumerate(blocking_rules)},
    }


def identity_truth(records_with_truth: pl.DataFrame) -> pl.DataFrame:
    """Each identity's true person: the one most of its records belong to (records equal
    on every compared field almost always are one person)."""
    return (
        records_with_truth.filter(pl.col("true_person_id").is_not_null())
        .group_by("identity_id", "true_person_id")
        .len()
        .sort(["identity_id", "len", "true_person_id"], descending=[False, True, False])
        .unique("identity_id", keep="first")
        .select(pl.col("identity_id").alias("unique_id"), "true_person_id")
    )


def linkage_quality(
    con: duckdb.DuckDBPyConnection,
    clusters_by_level: dict[str, pl.DataFrame],
    truth: pl.DataFrame,
    records_table: str,
    persons: pl.DataFrame | None = None,
    blocking_rules: dict[str, str] | None = None,
    identities_table: str = "linkage.person_identities",
    children: pl.DataFrame | None = None,
) -> dict:
    """Every quality measure, per level, as plain numbers and small tables (no values).
    children: the truth's children table (cohort children and their findings), for the
    findings group of quality_by_group."""
    records = con.sql(
        f"SELECT unique_id, identity_id, record_ref, agency, record_type, record_key, slot, role, source_dataset FROM {records_table}"
    ).pl()
    with_truth = attach_truth(records, truth)
    report: dict = {"records": records.height, "records_without_truth": int(with_truth["true_person_id"].null_count())}
    groups = None
    for level, clusters in clusters_by_level.items():
        labelled = with_truth.join(clusters.select("unique_id", "cluster_id"), on="unique_id")
        if groups is None:  # persons and their groups do not depend on the level
            groups = person_groups(labelled, persons, children)
        report[level] = {
            "pairs": pair_metrics(labelled),
            "clusters": cluster_metrics(labelled),
            "by_source_pair": pair_metrics_by_source_pair(labelled),
            "by_group": person_agreement_by_group(labelled, persons),
            "quality_by_group": quality_by_group(labelled, groups),
        }
    if blocking_rules:
        report["blocking"] = blocking_recall(con, identities_table, identity_truth(with_truth), blocking_rules)
    return report


LEVEL_NAMES = {"conservative": "conservative", "less_conservative": "less conservative"}


def quality_headline(report: dict) -> str:
    """One line for the top of linkage_quality's metadata: the spine's pairwise precision and
    recall over all true pairs at each linkage level, with cluster precision and recall."""
    parts = []
    for level, name in LEVEL_NAMES.items():
        if level not in report:
            continue
        pairs, clusters = report[level]["pairs"]["all"], report[level]["clusters"]
        parts.append(
            f"**{name}**: pair precision {pairs['precision']:.4f}, recall {pairs['recall']:.4f}; "
            f"cluster precision {clusters['cluster_precision']:.4f}, recall {clusters['cluster_recall']:.4f}"
        )
    truthless = report.get("records_without_truth", 0)
    tail = f" ({report['records']:,} records" + (f", {truthless:,} without truth)" if truthless else ")")
    return "Spine against the synthetic truth" + tail + ": " + "; ".join(parts) + "."
