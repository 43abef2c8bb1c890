"""Person linkage as assets, in the order of the data flow (linkage/spine.py):

  stg_* (every staged model whose spec lists persons)
    -> person_records -> linkage_model -> person_links -> person_spine
    -> linkage_quality (against the synthetic truth, when there is one)
    -> linkage_clerical_sample (review file under $CMI_DATA_DIR/linkage/review/)
    -> event_tables (analysis zone, schema events)

Each asset calls the linkage library (imported inside the asset: Splink must not load with
the code location). Tables live in the identified zone's `linkage` schema, except the event
tables. Metadata and logs carry counts, rates, parameters and schemas only: the model's
term-frequency tables and the review file hold names, so they stay on disk.
"""

import base64
import io
from pathlib import Path

import dagster as dg

from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.metadata import frame_table, mapping_table, number, table, text_list, transposed
from cmi_assets.sources.spec import all_specs
from cmi_assets.storage import IDENTIFIED, WAREHOUSE
from cmi_assets.tables import table_exists, transaction

GROUP = "linkage"
OWNERS = ["team:data-linkage"]
LEVELS = ("conservative", "less_conservative")  # thresholds.LEVELS (that module imports Splink)

PERSON_RECORDS_TABLE = "linkage.person_records"
LINKS_TABLE = "linkage.person_links"
CLUSTERS_TABLE = "linkage.person_clusters"
SPINE_TABLE = "linkage.person_spine"
PREVIOUS_SPINE_TABLE = "linkage.person_spine_previous"
MODELS_SUBDIR = ("linkage", "models")
REVIEW_SUBDIR = ("linkage", "review")
CURRENT_MODEL_FILE = "current.txt"  # names the artefact person_links scores with


def staged_person_models() -> list[dg.AssetKey]:
    """Every staged model of a record type whose spec has a `persons:` list."""
    return [
        dg.AssetKey(f"stg_{agency.agency}_{spec.name}")
        for agency in all_specs().values()
        for spec in agency.record_types.values()
        if spec.persons
    ]


def _schema(*columns: tuple[str, str] | tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(c[0], c[1], description=c[2] if len(c) > 2 else None) for c in columns]
    )


def _table(zone: str, table: str, schema: dg.TableSchema | None = None) -> dict:
    out = {"dagster/table_name": f"{zone}.{table}", "zone": zone}
    return {**out, "dagster/column_schema": schema} if schema else out


PERSON_RECORDS_SCHEMA = _schema(
    ("unique_id", "BIGINT", "hash of record_ref"),
    ("identity_id", "BIGINT", "hash of the compared fields"),
    ("record_ref", "VARCHAR", "agency|record_type|record_key|slot"),
    ("source_dataset", "VARCHAR"),
    ("agency", "VARCHAR"),
    ("record_type", "VARCHAR"),
    ("record_key", "VARCHAR", "identifying"),
    ("slot", "VARCHAR"),
    ("role", "VARCHAR", "child or adult"),
    ("id_namespace", "VARCHAR"),
    ("person_id", "VARCHAR", "agency ID; identifying"),
    ("given_name", "VARCHAR", "identifying"),
    ("middle_name", "VARCHAR", "identifying"),
    ("family_name", "VARCHAR", "identifying"),
    ("family_parts", "VARCHAR[]"),
    ("given_forms", "VARCHAR[]"),
    ("given_is_known", "BOOLEAN"),
    ("middle_forms", "VARCHAR[]"),
    ("middle_is_known", "BOOLEAN"),
    ("given_soundex", "VARCHAR"),
    ("family_soundex", "VARCHAR"),
    ("dob", "DATE", "identifying"),
    ("dob_year_month", "VARCHAR"),
    ("birth_year", "INTEGER"),
    ("sex", "VARCHAR"),
    ("parent1_given", "VARCHAR"),
    ("parent2_given", "VARCHAR"),
    ("parent_given_forms", "VARCHAR[]"),
    ("parent1_dob", "DATE"),
    ("parent2_dob", "DATE"),
    ("address", "VARCHAR", "identifying"),
    ("postcode", "VARCHAR"),
    ("event_date", "DATE"),
)
LINKS_SCHEMA = _schema(
    ("unique_id_l", "BIGINT", "identity"),
    ("unique_id_r", "BIGINT", "identity"),
    ("match_weight", "DOUBLE"),
    ("match_probability", "DOUBLE"),
    ("is_link_conservative", "BOOLEAN", "NZ para 88"),
    ("is_link_less_conservative", "BOOLEAN", "NZ para 90"),
    ("separated_by", "VARCHAR", "why the clustering guards keep the two apart (dob, given, middle) or null"),
)
SPINE_SCHEMA = _schema(
    ("unique_id", "BIGINT", "person record"),
    ("record_ref", "VARCHAR", "agency|record_type|record_key|slot of the record"),
    ("identity_id", "BIGINT", "the record's identity"),
    ("level", "VARCHAR", "conservative / less_conservative"),
    ("cluster_id", "BIGINT", "this run's cluster (its smallest identity id); not stable across runs: use person_key"),
    ("person_key", "VARCHAR", "HMAC-SHA256 pseudonym, persistent across runs"),
)


# --- person_records ---------------------------------------------------------------------------


@dg.asset(
    name="person_records",
    deps=staged_person_models(),
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    description=(
        "One standardised person record per person slot of every staged record whose spec lists persons "
        "(a birth registration gives the child, the mother and a listed father), and the person identities "
        "(records equal on every compared field) that Splink scores. Identified zone."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata=_table(IDENTIFIED, PERSON_RECORDS_TABLE, PERSON_RECORDS_SCHEMA),
)
def person_records(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.linkage.person_records import build_person_records

    with storage.identified() as con:
        counts = build_person_records(con)
    context.log.info(f"{counts['records']} person records, {counts['identities']} identities")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": counts["records"],
            "identities": counts["identities"],
            "records_by_source_and_role": mapping_table(counts["by_source_role"], "source:role", "records"),
        }
    )


# --- linkage_model ----------------------------------------------------------------------------


class LinkageModelConfig(dg.Config):
    seed: int = 1
    u_max_pairs: float = 1e6  # random pairs for u: stable values, bounded training time


def models_dir(storage: StorageResource) -> Path:
    return storage.storage().data_dir.joinpath(*MODELS_SUBDIR)


def current_artefact_path(storage: StorageResource) -> Path:
    pointer = models_dir(storage) / CURRENT_MODEL_FILE
    if not pointer.exists():
        raise dg.Failure(description="no linkage model trained yet: materialize linkage_model")
    return models_dir(storage) / pointer.read_text(encoding="utf-8").strip()


def parameters_table(artefact: dict) -> dg.MetadataValue:
    """Each comparison level's m, u and match weight (labels only: no values from the data),
    as a table the UI draws inline (the prior and training size have their own entries)."""
    import math

    model = artefact["model"]
    rows = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            rows.append(
                {
                    "comparison": comparison["output_column_name"],
                    "level": level.get("label_for_charts", ""),
                    "m": m,
                    "u": u,
                    "match weight": None if weight is None else round(weight, 2),
                }
            )
    return table(rows, digits=3)


def blocking_table(artefact: dict) -> dg.MetadataValue:
    """Each candidate blocking rule: used for prediction or over the pair budget, the pairs it
    generates alone and those it adds after the rules before it."""
    counts = artefact.get("blocking_rule_pair_counts") or {}
    chosen = artefact["blocking_rules"]
    rows = [
        {
            "rule": name,
            "used": "yes" if name in chosen else "no (over budget)",
            "pairs alone": c.get("pairs"),
            "pairs added": c.get("marginal_pairs"),
        }
        for name, c in counts.items()
    ]
    if not rows:
        rows = [{"rule": name, "used": "yes", "pairs alone": None, "pairs added": None} for name in chosen]
    return table(rows, ["rule", "used", "pairs alone", "pairs added"])


def match_weight_chart(artefact: dict) -> str:
    """A horizontal bar chart of every comparison level's match weight, as a base64 PNG in markdown."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, weights = [], []
    for comparison in artefact["model"]["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or not m or not u:
                continue
            labels.append(f"{comparison['output_column_name']}: {level.get('label_for_charts', '')}")
            weights.append(math.log2(m / u))
    figure, axis = plt.subplots(figsize=(7, 0.22 * len(labels) + 1))
    axis.barh(range(len(labels)), weights, color=["#2a7ab9" if w >= 0 else "#c0392b" for w in weights])
    axis.set_yticks(range(len(labels)), labels, fontsize=6)
    axis.invert_yaxis()
    axis.axvline(0, color="black", linewidth=0.5)
    axis.set_xlabel("match weight (log2 m/u)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return f"![match weights](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')})"


@dg.asset(
    name="linkage_model",
    deps=["person_records"],
    group_name=GROUP,
    kinds={"splink", "duckdb"},
    owners=OWNERS,
    description=(
        "The Splink person-linkage model trained on the person identities (prior from deterministic rules, u by "
        "random sampling, m by EM over several blocking passes), saved as one JSON artefact with its sha256 under "
        "$CMI_DATA_DIR/linkage/models/<sha12>.json (it holds name frequencies: identified zone)."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
)
def linkage_model(
    context: dg.AssetExecutionContext, config: LinkageModelConfig, storage: StorageResource
) -> dg.MaterializeResult:
    from cmi_assets.linkage.train import model_summary, save_artefact, train_model

    with storage.identified() as con:
        artefact = train_model(con, seed=config.seed, u_max_pairs=config.u_max_pairs)
    sha = artefact["sha256"]
    path = models_dir(storage) / f"{sha[:12]}.json"
    save_artefact(artefact, path)
    (models_dir(storage) / CURRENT_MODEL_FILE).write_text(path.name, encoding="utf-8")
    summary = model_summary(artefact)
    context.log.info(f"linkage model {sha[:12]} trained on {summary['training_records']} identities")
    return dg.MaterializeResult(
        metadata={
            "sha256": sha,
            "artefact": dg.MetadataValue.path(str(path)),
            "training_identities": summary["training_records"],
            "prior_match_probability": number(summary["probability_two_random_records_match"]),
            "comparisons": text_list(summary["comparisons"]),
            "parameters": parameters_table(artefact),
            "blocking_rules": blocking_table(artefact),
            "match_weights": dg.MetadataValue.md(match_weight_chart(artefact)),
            "em_passes": table(
                [
                    {"EM pass blocked on": p["blocking_rule"], "share of records": p["record_sample_proportion"]}
                    for p in artefact["training"]["em_passes"]
                ],
                digits=3,
            ),
        },
        data_version=dg.DataVersion(sha[:12]),
    )


# --- person_links -----------------------------------------------------------------------------


@dg.asset(
    name="person_links",
    deps=["linkage_model"],
    group_name=GROUP,
    kinds={"splink", "duckdb"},
    owners=OWNERS,
    description=(
        "Every blocked identity pair scored with the current model (linkage.person_pairs) and the pairs linked at "
        "either level with both flags: conservative (very high probability and, for two children, a parent's "
        "given name in common; NZ para 88) and less conservative (threshold of maximal expected F1; NZ para 90)."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata=_table(IDENTIFIED, LINKS_TABLE, LINKS_SCHEMA),
)
def person_links(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.linkage.spine import score_and_flag
    from cmi_assets.linkage.train import load_artefact

    path = current_artefact_path(storage)
    artefact = load_artefact(path)
    with storage.identified() as con:
        thresholds, counts = score_and_flag(con, artefact)
    context.log.info(
        f"{counts['pairs']} scored pairs; links: {counts['links_conservative']} conservative, "
        f"{counts['links_less_conservative']} less conservative"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": counts["links_less_conservative"],
            "scored_pairs": counts["pairs"],
            "links_conservative": counts["links_conservative"],
            "links_less_conservative": counts["links_less_conservative"],
            "model_sha256": artefact["sha256"],
            "thresholds": mapping_table(thresholds.as_dict(), "threshold", "value"),
        }
    )


# --- person_spine -----------------------------------------------------------------------------


@dg.asset(
    name="person_spine",
    deps=["person_links"],
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    description=(
        "Record clusters at both linkage levels (constrained: two birth registrations never merge) and the "
        "persistent pseudonymous person_key of every record (HMAC with the secret from CMI_PSEUDONYM_KEY or "
        "CMI_PSEUDONYM_KEY_FILE); keys carry over from the previous spine by overlap, with splits, merges, new "
        "and retired keys recorded in linkage.person_key_events."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata=_table(IDENTIFIED, SPINE_TABLE, SPINE_SCHEMA),
)
def person_spine(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.linkage.keys import MissingPseudonymKey, pseudonym_secret
    from cmi_assets.linkage.spine import cluster_and_key

    try:
        secret = pseudonym_secret()
    except MissingPseudonymKey as error:
        raise dg.Failure(description=str(error)) from None
    # One transaction: the spine, its previous copy and the key events change together, so
    # a run killed half-way leaves no spine whose keys have no events (a rerun would take
    # such a spine as the previous one and never record its keys as new).
    with storage.identified() as con, transaction(con):
        has_previous = table_exists(con, SPINE_TABLE)
        con.execute(f"DROP TABLE IF EXISTS {PREVIOUS_SPINE_TABLE}")
        if has_previous:  # kept for the key-stability check
            con.execute(f"CREATE TABLE {PREVIOUS_SPINE_TABLE} AS SELECT * FROM {SPINE_TABLE}")
        summary = cluster_and_key(con, secret, run_id=context.run_id)
        rows = con.execute(f"SELECT count(*) FROM {SPINE_TABLE}").fetchone()[0]
    metadata: dict = {"dagster/row_count": rows}
    for level, values in summary.items():
        context.log.info(
            f"{level}: {values['persons']} persons, {values['events_new']} new keys, "
            f"{values['events_split']} splits, {values['events_merge']} merges"
        )
        metadata[f"{level}/persons"] = values["persons"]
    # one narrow table (measures as rows, a column per level) rather than a long key per number
    metadata["by_level"] = transposed(dict(summary))
    return dg.MaterializeResult(metadata=metadata)


def _level_clusters(con) -> dict:
    return {
        level: con.sql(
            f"SELECT unique_id, record_ref, identity_id, cluster_id FROM {CLUSTERS_TABLE} WHERE level = '{level}'"
        ).pl()
        for level in LEVELS
    }


# --- linkage_quality --------------------------------------------------------------------------


def _truth_files(storage: StorageResource) -> tuple[Path, Path] | None:
    truth_dir = storage.storage().truth_dir
    records, persons = truth_dir / "record_persons.parquet", truth_dir / "persons.parquet"
    return (records, persons) if records.exists() else None


@dg.asset(
    name="linkage_quality",
    deps=["person_spine", "linkage_model"],
    group_name=GROUP,
    kinds={"polars"},
    owners=OWNERS,
    description=(
        "Linkage quality against the synthetic world's truth (Storage.truth_dir): pairwise precision, recall and F1 "
        "for children's, adults' and child-adult pairs at each level, by source pair; cluster precision and recall; "
        "agreement by sex, age band, ethnicity and agency; blocking recall; cluster sizes. Counts and rates only. "
        "Skipped (not materialized) where no truth exists, as in production."
    ),
    pool=DUCKDB_WRITE_POOL,
    output_required=False,
    automation_condition=follow_upstream(),
)
def linkage_quality(context: dg.AssetExecutionContext, storage: StorageResource):
    files = _truth_files(storage)
    if files is None:
        context.log.info(
            "linkage_quality skipped: no synthetic truth (record_persons.parquet) in the truth folder; "
            "real data is measured by the clerical review sample instead"
        )
        return
    import polars as pl

    from cmi_assets.linkage.clustering import cluster_size_summary
    from cmi_assets.linkage.quality import linkage_quality as measure_quality
    from cmi_assets.linkage.quality import quality_headline
    from cmi_assets.linkage.train import load_artefact

    truth = pl.read_parquet(files[0])
    persons = (
        pl.read_parquet(files[1], columns=["true_person_id", "sex", "dob", "ethnicity", "role"])
        if files[1].exists()
        else None
    )
    children_file = files[0].parent / "children.parquet"
    children = (
        pl.read_parquet(children_file, columns=["true_person_id", "in_study_population", "finding_by_age_2"])
        if children_file.exists()
        else None
    )
    artefact = load_artefact(current_artefact_path(storage))
    with storage.identified(read_only=True) as con:
        clusters = _level_clusters(con)
        report = measure_quality(
            con, clusters, truth, PERSON_RECORDS_TABLE, persons, artefact["blocking_rules"], children=children
        )
    # Headline first (the UI shows metadata in insertion order): the spine's pairwise precision
    # and recall over all pairs at each level, as numbers (Metadata > Plots charts them).
    metadata: dict = {
        "summary": dg.MetadataValue.md(quality_headline(report)),
        **{
            f"{level}/{measure}": number(float(report[level]["pairs"]["all"][measure]))
            for level in LEVELS
            for measure in ("precision", "recall")
        },
        "records": report["records"],
        "records_without_truth": report["records_without_truth"],
    }
    for level in LEVELS:
        result = report[level]
        pairs = result["pairs"]
        metadata[f"{level}/pairs"] = table(
            [
                {
                    "role": role,
                    "precision": p["precision"],
                    "recall": p["recall"],
                    "F1": p["f1"],
                    "true pairs": p["true_pairs"],
                }
                for role, p in pairs.items()
            ]
        )
        sizes = cluster_size_summary(clusters[level])
        metadata[f"{level}/clusters"] = mapping_table({**result["clusters"], **sizes}, "measure", "value")
        metadata[f"{level}/source_pairs"] = frame_table(result["by_source_pair"])
        metadata[f"{level}/agreement"] = table(
            [
                {"group": group, **row}
                for group, frame in result["by_group"].items()
                for row in frame.iter_rows(named=True)
            ]
        )
        metadata[f"{level}/by_group"] = frame_table(
            result["quality_by_group"].select(
                "group",
                "value",
                "persons",
                pl.col("pair_precision").alias("pair P"),
                pl.col("pair_recall").alias("pair R"),
                pl.col("cluster_precision").alias("cluster P"),
                pl.col("cluster_recall").alias("cluster R"),
            )
        )
        context.log.info(
            f"{level}: child pairs P {pairs['child']['precision']:.4f} R {pairs['child']['recall']:.4f}; "
            f"cluster precision {result['clusters']['cluster_precision']:.4f}"
        )
    if "blocking" in report:
        blocking = report["blocking"]
        metadata["blocking_recall"] = number(float(blocking["blocking_recall"]))
        metadata["blocking_true_pairs"] = blocking["true_pairs"]
        metadata["blocking_recall_by_rule"] = mapping_table(blocking["by_rule"], "blocking rule", "recall alone")
    yield dg.Output(None, metadata=metadata)


# --- linkage_clerical_sample ------------------------------------------------------------------


def _review_file_schema() -> dg.TableSchema:
    """The review CSV's columns (linkage.clerical.review_pairs): both sides' compared fields
    side by side, and the column the reviewer fills in."""
    from cmi_assets.linkage.review_fields import REVIEW_FIELDS

    columns = [
        ("unit_id", "BIGINT", "the sampled child's birth-registration record (with its adults) under review"),
        ("unique_id_l", "BIGINT", "left record's identity"),
        ("unique_id_r", "BIGINT", "right record's identity"),
        ("match_weight", "DOUBLE", "Splink match weight, log2 Bayes factor"),
        ("match_probability", "DOUBLE", "Splink match probability, 0-1"),
    ]
    for field in REVIEW_FIELDS:
        columns += [
            (f"{field}_l", "VARCHAR", f"left record's {field} (identified)"),
            (f"{field}_r", "VARCHAR", f"right record's {field} (identified)"),
        ]
    columns.append(
        ("clerical_match_score", "DOUBLE", "filled in by the reviewer: 1 same person, 0 different, 0-1 unsure")
    )
    return dg.TableSchema(columns=[dg.TableColumn(n, t, description=d) for n, t, d in columns])


REVIEW_FILE_SCHEMA = _review_file_schema()


class ClericalSampleConfig(dg.Config):
    children_per_level: int = 500  # NZ study: about 500 children
    family_share: float = 0.2  # about one in five reviewed with their associated adults
    seed: int = 1


@dg.asset(
    name="linkage_clerical_sample",
    deps=["person_spine"],
    group_name=GROUP,
    kinds={"polars", "csv"},
    owners=OWNERS,
    description=(
        "The clerical review sample (NZ study, paras 92-100): cohort children (one per birth registration) sampled "
        "by outcome group (any child-protection record) and weakest-link weight band, about one in five with their "
        "associated adults; review files of the pairs side by side under $CMI_DATA_DIR/linkage/review/ (identified: "
        "names and DOBs, never in metadata). Where the synthetic truth exists it plays the reviewer, giving weighted "
        "agreement with 95% CIs (stratified, Korn-Graubard)."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata={"dagster/column_schema": REVIEW_FILE_SCHEMA, "zone": IDENTIFIED},
)
def linkage_clerical_sample(
    context: dg.AssetExecutionContext, config: ClericalSampleConfig, storage: StorageResource
) -> dg.MaterializeResult:
    import polars as pl

    from cmi_assets.linkage.clerical import (
        associated_adult_clusters,
        child_review_units,
        export_review_file,
        review_pairs,
        stratified_sample,
        weighted_agreement,
    )

    files = _truth_files(storage)
    review_dir = storage.storage().data_dir.joinpath(*REVIEW_SUBDIR)
    metadata: dict = {"review_dir": dg.MetadataValue.path(str(review_dir)), "truth_as_reviewer": files is not None}
    total = 0
    sampled: dict[str, dict] = {}
    strata: dict[str, dg.MetadataValue] = {}
    agreement: dict[str, dict] = {}
    with storage.identified(read_only=True) as con:
        clusters = _level_clusters(con)
        cp_clusters_sql = (
            "SELECT DISTINCT c.cluster_id FROM {clusters} c JOIN {records} r USING (unique_id) "
            "WHERE c.level = '{level}' AND r.agency = 'child_protection'"
        )
        truth_agrees = _truth_agreement(con, clusters, files[0]) if files else None
        for level in LEVELS:
            units = child_review_units(con, clusters[level], LINKS_TABLE, level)
            if units.is_empty():
                sampled[level] = {"sampled children": 0}
                continue
            cp = con.sql(
                cp_clusters_sql.format(clusters=CLUSTERS_TABLE, records=PERSON_RECORDS_TABLE, level=level)
            ).pl()
            units = units.with_columns(
                pl.when(pl.col("cluster_id").is_in(cp["cluster_id"].implode()))
                .then(pl.lit("cp_record"))
                .otherwise(pl.lit("no_cp_record"))
                .alias("outcome_group")
            )
            sample = stratified_sample(units, ["outcome_group", "weight_band"], config.children_per_level, config.seed)
            # about one in five sampled children reviewed with their associated adults (NZ Table 5)
            n_family = max(1, round(sample.height * config.family_share))
            family_units = sample.sample(n=min(n_family, sample.height), seed=config.seed).select(
                "unit_id", "cluster_id"
            )
            adults = associated_adult_clusters(con, clusters[level], family_units)
            review = review_pairs(con, sample, clusters[level], "linkage.person_pairs")
            adult_review = review_pairs(
                con,
                adults.select("unit_id", pl.col("adult_cluster_id").alias("cluster_id")).unique(),
                clusters[level],
                "linkage.person_pairs",
            )
            rows = export_review_file(
                pl.concat([review, adult_review]).unique(maintain_order=True), review_dir / f"review_{level}.csv"
            )
            total += sample.height
            sampled[level] = {
                "sampled children": sample.height,
                "children with adults": family_units.height,
                "review pairs": rows,
            }
            strata[level] = frame_table(
                sample.group_by("stratum")
                .agg(
                    pl.col("stratum_size").first().alias("children"),
                    pl.len().alias("sampled"),
                    pl.col("weight").first().alias("weight"),
                )
                .sort("stratum")
            )
            if truth_agrees is not None:
                agrees = truth_agrees[level]
                labelled = sample.join(agrees, on="cluster_id", how="left").with_columns(
                    pl.col("agrees").fill_null(False)
                )
                estimate = weighted_agreement(labelled)
                agreement[f"{level} child"] = estimate
                family = (
                    family_units.join(adults, on="unit_id", how="left")
                    .join(
                        agrees.rename({"cluster_id": "adult_cluster_id", "agrees": "adult_agrees"}),
                        on="adult_cluster_id",
                        how="left",
                    )
                    .group_by("unit_id")
                    .agg(pl.col("adult_agrees").fill_null(True).all())
                )
                family = labelled.join(family, on="unit_id").with_columns(
                    (pl.col("agrees") & pl.col("adult_agrees")).alias("family_agrees")
                )
                if family.height:
                    fam = weighted_agreement(family, "family_agrees")
                    agreement[f"{level} family"] = fam
                context.log.info(
                    f"{level}: {sample.height} children sampled; weighted agreement {estimate['estimate']:.4f} "
                    f"(95% CI {estimate['ci_low']:.4f}-{estimate['ci_high']:.4f})"
                )
    # Headline first: each level's weighted child agreement (numbers, for Metadata > Plots),
    # then narrow tables (a column per level) instead of a long key per number.
    headline = {
        f"{level}/agreement": number(agreement[f"{level} child"]["estimate"])
        for level in LEVELS
        if f"{level} child" in agreement
    }
    metadata = {
        **headline,
        **({"agreement": transposed(agreement)} if agreement else {}),
        "sample": transposed(sampled),
        **{f"{level}/strata": value for level, value in strata.items()},
        **metadata,
        "dagster/row_count": total,
    }
    return dg.MaterializeResult(metadata=metadata)


def _truth_agreement(con, clusters: dict, truth_path: Path) -> dict:
    """Per cluster and level: does it hold exactly one true person's records, all of them
    (the synthetic truth plays the clerical reviewer)."""
    import polars as pl

    from cmi_assets.linkage.quality import attach_truth

    records = con.sql(f"SELECT unique_id, agency, record_type, record_key, slot FROM {PERSON_RECORDS_TABLE}").pl()
    with_truth = attach_truth(records, pl.read_parquet(truth_path)).filter(pl.col("true_person_id").is_not_null())
    per_person = with_truth.group_by("true_person_id").len("person_n")
    out = {}
    for level, level_clusters in clusters.items():
        labelled = with_truth.join(level_clusters.select("unique_id", "cluster_id"), on="unique_id")
        per_cluster = labelled.group_by("cluster_id").agg(
            pl.col("true_person_id").n_unique().alias("people"),
            pl.col("true_person_id").first().alias("pid"),
            pl.len().alias("n"),
        )
        out[level] = per_cluster.join(per_person, left_on="pid", right_on="true_person_id").select(
            "cluster_id", ((pl.col("people") == 1) & (pl.col("n") == pl.col("person_n"))).alias("agrees")
        )
    return out


# --- event_tables -----------------------------------------------------------------------------


def _event_tables_schema() -> dg.TableSchema:
    from cmi_assets.cohorts.events import EVENT_TABLES

    return _schema(
        *[
            (f"{table}.{column}", kind)
            for table, columns in EVENT_TABLES.items()
            for column, kind in {"linkage_level": "VARCHAR", **columns}.items()
        ]
    )


def _event_table_deps() -> list:
    from cmi_assets.linkage.events import staged_tables_read

    return ["person_spine", *staged_tables_read()]


@dg.asset(
    name="event_tables",
    deps=_event_table_deps(),
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    description=(
        "The analysis zone's de-identified event tables (warehouse schema events, cohorts.events.EVENT_TABLES) at "
        "both linkage levels, keyed by person_key: no names, no agency IDs (event keys are HMACs), dates of birth as "
        "year and month only, ages at events in days from the spine's best DOB, areas (deprivation decile, office, "
        "county) instead of addresses."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata={
        "dagster/table_name": f"{WAREHOUSE}.events.*",
        "zone": WAREHOUSE,
        "dagster/column_schema": _event_tables_schema(),
    },
)
def event_tables(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.linkage.events import build_event_tables, event_table_counts, write_event_tables
    from cmi_assets.linkage.keys import MissingPseudonymKey, pseudonym_secret

    try:
        secret = pseudonym_secret()
    except MissingPseudonymKey as error:
        raise dg.Failure(description=str(error)) from None
    with storage.identified() as con:
        tables = build_event_tables(con, secret)
    with storage.warehouse() as con:
        rows = write_event_tables(con, tables)
    counts = event_table_counts(tables)
    context.log.info("event tables: " + ", ".join(f"{t} {n}" for t, n in rows.items()))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(rows.values()),
            "rows_by_table": mapping_table(rows, "table", "rows"),
            "rows_by_table_and_level": table(
                [
                    {
                        "table": t,
                        "conservative": c["rows_conservative"],
                        "less conservative": c["rows_less_conservative"],
                        "person column": c["key_column"],
                        "without key": c["rows_without_key"],
                    }
                    for t, c in counts.items()
                ]
            ),
        }
    )


LINKAGE_ASSETS = [
    person_records,
    linkage_model,
    person_links,
    person_spine,
    linkage_quality,
    linkage_clerical_sample,
    event_tables,
]
