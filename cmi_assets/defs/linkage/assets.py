"""Person linkage as assets, in the order of the data flow (linkage/spine.py):

  stg_* (every staged model whose spec lists persons)
    -> person_records -> linkage_model -> person_links -> person_spine <- review_decisions
    -> linkage_quality (against the synthetic truth, when there is one)
    -> linkage_clerical_sample (review file under $CMI_DATA_DIR/linkage/review/)
    -> event_tables (analysis zone, schema events)

Each asset calls the linkage library. The engine (train, spine, review, clerical_sample: Splink
and numba) is imported inside the assets that run it, so it does not load with the code
location. Tables live in the identified zone's `linkage` schema, except the event
tables. Metadata and logs carry counts, rates, parameters and schemas only: the model's
term-frequency tables and the review file hold names, so they stay on disk.
"""

import dagster as dg

from cmi_assets.defs.linkage.inputs import (
    current_model_path,
    event_table_deps,
    event_tables_schema,
    pseudonym_secret,
    staged_person_models,
)
from cmi_assets.defs.linkage.preset import OWNERS, linkage_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.linkage import quality, report
from cmi_assets.linkage.events import build_event_tables, event_table_counts, write_event_tables
from cmi_assets.linkage.model_store import ModelStore
from cmi_assets.linkage.person_records import build_person_records
from cmi_assets.linkage.report import event_table_rows
from cmi_assets.linkage.spine_run import level_clusters, replace_spine, spine_log_line
from cmi_assets.linkage.tables import (
    LEVELS,
    LINKS_COLUMNS,
    LINKS_TABLE,
    PERSON_RECORDS_COLUMNS,
    PERSON_RECORDS_TABLE,
    REVIEW_DECISIONS_COLUMNS,
    REVIEW_DECISIONS_TABLE,
    SPINE_COLUMNS,
    SPINE_TABLE,
    review_file_columns,
)
from cmi_assets.linkage.truth import read_linkage_truth, record_truth_file
from cmi_assets.metadata import (
    column_schema,
    frame_table,
    mapping_table,
    number,
    table,
    table_metadata,
    text_list,
    transposed,
)
from cmi_assets.storage import IDENTIFIED, WAREHOUSE


# --- person_records ---------------------------------------------------------------------------
@linkage_asset(
    deps=staged_person_models(),
    kinds={"duckdb", "polars"},
    metadata=table_metadata(IDENTIFIED, PERSON_RECORDS_TABLE, PERSON_RECORDS_COLUMNS),
)
def person_records(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """One standardised person record per person slot of every staged record whose spec lists persons (a birth
    registration gives the child, the mother and a listed father), and the person identities (records equal on
    every compared field) that Splink scores. Identified zone."""
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
    review_labels: bool = False  # also estimate m from the reviewers' match labels (train.py)
    min_review_match_labels: int = 200


@linkage_asset(
    deps=["person_records"],
    kinds={"splink", "duckdb"},
)
def linkage_model(
    context: dg.AssetExecutionContext, config: LinkageModelConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """The Splink person-linkage model trained on the person identities (prior from deterministic rules, u by
    random sampling, m by EM over several blocking passes), saved as one JSON artefact with its sha256 under
    $CMI_DATA_DIR/linkage/models/<sha12>.json (it holds name frequencies: identified zone); with
    review_labels, m from enough reviewed matches too, and precision and recall against the reviewers'
    decisions."""
    from cmi_assets.linkage.train import model_summary, train_with_review

    with storage.identified() as con:
        labels = config.min_review_match_labels if config.review_labels else None
        artefact, accuracy = train_with_review(con, config.seed, config.u_max_pairs, labels)
    sha = artefact["sha256"]
    path = ModelStore(storage.storage().data_dir).save(artefact)
    summary = model_summary(artefact)
    context.log.info(f"linkage model {sha[:12]} trained on {summary['training_records']} identities")
    return dg.MaterializeResult(
        metadata={
            "sha256": sha,
            "artefact": dg.MetadataValue.path(str(path)),
            "training_identities": summary["training_records"],
            "prior_match_probability": number(summary["probability_two_random_records_match"]),
            "comparisons": text_list(summary["comparisons"]),
            "parameters": table(report.parameter_rows(artefact), digits=3),
            "blocking_rules": table(report.blocking_rows(artefact), report.BLOCKING_COLUMNS),
            "match_weights": dg.MetadataValue.md(report.match_weight_chart(artefact)),
            "em_passes": table(report.em_pass_rows(artefact), digits=3),
            "review_match_labels": artefact["training"].get("review_match_labels", 0),
            **({"accuracy_from_review_labels": table(accuracy, digits=3)} if accuracy else {}),
        },
        data_version=dg.DataVersion(sha[:12]),
    )


# --- person_links -----------------------------------------------------------------------------
@linkage_asset(
    deps=["linkage_model"],
    kinds={"splink", "duckdb"},
    metadata=table_metadata(IDENTIFIED, LINKS_TABLE, LINKS_COLUMNS),
)
def person_links(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Every blocked identity pair scored with the current model (linkage.person_pairs) and the pairs linked
    at either level with both flags: conservative (very high probability and, for two children, a parent's
    given name in common; NZ para 88) and less conservative (threshold of maximal expected F1; NZ para 90)."""
    from cmi_assets.linkage.spine import score_and_flag
    from cmi_assets.linkage.train import load_artefact

    artefact = load_artefact(current_model_path(storage))
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
@dg.multi_observable_source_asset(
    specs=[
        dg.AssetSpec(
            "review_decisions",
            group_name="linkage",
            owners=OWNERS,
            kinds={"duckdb"},
            metadata=table_metadata(IDENTIFIED, REVIEW_DECISIONS_TABLE, REVIEW_DECISIONS_COLUMNS),
        )
    ],
    required_resource_keys={"storage"},
)
def review_decisions(context: dg.AssetExecutionContext):
    """The reviewers' decisions (`cmi review import`); its data version hashes the table."""
    from cmi_assets.linkage.review import decision_counts, decisions_data_version

    with context.resources.storage.identified(read_only=True) as con:
        version, counts = decisions_data_version(con), decision_counts(con)
    yield dg.ObserveResult(asset_key="review_decisions", data_version=dg.DataVersion(version), metadata=counts)


@linkage_asset(
    deps=["person_links", "review_decisions"],
    kinds={"duckdb", "polars"},
    metadata=table_metadata(IDENTIFIED, SPINE_TABLE, SPINE_COLUMNS),
)
def person_spine(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Record clusters at both linkage levels (constrained: two birth registrations never merge) and the
    persistent pseudonymous person_key of every record (HMAC with the secret from CMI_PSEUDONYM_KEY or
    CMI_PSEUDONYM_KEY_FILE); keys carry over from the previous spine by overlap, with splits, merges, new and
    retired keys recorded in linkage.person_key_events. Reviewers' decisions (review_decisions) join (match)
    or part (non_match) two records' persons; the key events they explain carry the decision_id."""
    with storage.identified() as con:
        summary, rows = replace_spine(con, pseudonym_secret(), context.run_id)
    metadata: dict = {"dagster/row_count": rows}
    for level, values in summary.items():
        context.log.info(spine_log_line(level, values))
        metadata[f"{level}/persons"] = values["persons"]
    # one narrow table (measures as rows, a column per level) rather than a long key per number
    metadata["by_level"] = transposed(dict(summary))
    return dg.MaterializeResult(metadata=metadata)


# --- linkage_quality --------------------------------------------------------------------------
@linkage_asset(
    deps=["person_spine", "linkage_model"],
    kinds={"polars"},
    output_required=False,
)
def linkage_quality(context: dg.AssetExecutionContext, storage: StorageResource):
    """Linkage quality against the synthetic world's truth (Storage.truth_dir): pairwise precision, recall and
    F1 for children's, adults' and child-adult pairs at each level, by source pair; cluster precision and
    recall; agreement by sex, age band, ethnicity and agency; blocking recall; cluster sizes. Counts and rates
    only. Skipped (not materialized) where no truth exists, as in production."""
    truth = read_linkage_truth(storage.storage().truth_dir)
    if truth is None:
        context.log.info(
            "linkage_quality skipped: no synthetic truth (record_persons.parquet) in the truth folder; "
            "real data is measured by the clerical review sample instead"
        )
        return

    from cmi_assets.linkage.train import load_artefact

    artefact = load_artefact(current_model_path(storage))
    with storage.identified(read_only=True) as con:
        clusters = level_clusters(con)
        rules, records = artefact["blocking_rules"], PERSON_RECORDS_TABLE
        measured = quality.linkage_quality(
            con, clusters, truth.records, records, truth.persons, rules, children=truth.children
        )
    # Headline first (the UI shows metadata in insertion order): the spine's pairwise precision
    # and recall over all pairs at each level, as numbers (Metadata > Plots charts them).
    metadata: dict = {
        "summary": dg.MetadataValue.md(quality.quality_headline(measured)),
        **{key: number(value) for key, value in report.quality_headline_numbers(measured, LEVELS).items()},
        "records": measured["records"],
        "records_without_truth": measured["records_without_truth"],
    }
    for level in LEVELS:
        shown = report.level_quality(measured[level], clusters[level])
        metadata[f"{level}/pairs"] = table(shown["pairs"])
        metadata[f"{level}/clusters"] = mapping_table(shown["clusters"], "measure", "value")
        metadata[f"{level}/source_pairs"] = frame_table(shown["source_pairs"])
        metadata[f"{level}/agreement"] = table(shown["agreement"])
        metadata[f"{level}/by_group"] = frame_table(shown["by_group"])
        context.log.info(report.quality_log_line(level, measured[level]))
    if "blocking" in measured:
        blocking = measured["blocking"]
        metadata["blocking_recall"] = number(float(blocking["blocking_recall"]))
        metadata["blocking_true_pairs"] = blocking["true_pairs"]
        metadata["blocking_recall_by_rule"] = mapping_table(blocking["by_rule"], "blocking rule", "recall alone")
    yield dg.Output(None, metadata=metadata)


# --- linkage_clerical_sample ------------------------------------------------------------------
class ClericalSampleConfig(dg.Config):
    children_per_level: int = 500  # NZ study: about 500 children
    family_share: float = 0.2  # about one in five reviewed with their associated adults
    seed: int = 1


@linkage_asset(
    deps=["person_spine"],
    kinds={"polars", "csv"},
    metadata={"dagster/column_schema": column_schema(review_file_columns()), "zone": IDENTIFIED},
)
def linkage_clerical_sample(
    context: dg.AssetExecutionContext, config: ClericalSampleConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """The clerical review sample (NZ study, paras 92-100): cohort children (one per birth registration)
    sampled by outcome group (any child-protection record) and weakest-link weight band, about one in five
    with their associated adults; review files of the pairs side by side under $CMI_DATA_DIR/linkage/review/
    (identified: names and DOBs, never in metadata). Where the synthetic truth exists it plays the reviewer,
    giving weighted agreement with 95% CIs (stratified, Korn-Graubard)."""
    from cmi_assets.linkage.clerical_sample import REVIEW_SUBDIR, sample_levels

    truth_file = record_truth_file(storage.storage().truth_dir)
    review_dir = storage.storage().data_dir.joinpath(*REVIEW_SUBDIR)
    metadata: dict = {"review_dir": dg.MetadataValue.path(str(review_dir)), "truth_as_reviewer": truth_file is not None}
    with storage.identified(read_only=True) as con:
        clusters = level_clusters(con)
        drawn = sample_levels(
            con, clusters, review_dir, config.children_per_level, config.family_share, config.seed, truth_file
        )
    for line in drawn.log_lines():
        context.log.info(line)
    # Headline first: each level's weighted child agreement (numbers, for Metadata > Plots),
    # then narrow tables (a column per level) instead of a long key per number.
    metadata = {
        **{key: number(value) for key, value in drawn.headline().items()},
        **({"agreement": transposed(drawn.agreement)} if drawn.agreement else {}),
        "sample": transposed(drawn.sampled),
        **{f"{level}/strata": frame_table(frame) for level, frame in drawn.strata.items()},
        **metadata,
        "dagster/row_count": drawn.children,
    }
    return dg.MaterializeResult(metadata=metadata)


# --- event_tables -----------------------------------------------------------------------------
@linkage_asset(
    deps=event_table_deps(),
    kinds={"duckdb", "polars"},
    metadata={**table_metadata(WAREHOUSE, "events.*"), "dagster/column_schema": event_tables_schema()},
)
def event_tables(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The analysis zone's de-identified event tables (warehouse schema events, cohorts.events.EVENT_TABLES)
    at both linkage levels, keyed by person_key: no names, no agency IDs (event keys are HMACs), dates of
    birth as year and month only, ages at events in days from the spine's best DOB, areas (deprivation decile,
    office, county) instead of addresses."""
    with storage.identified() as con:
        tables = build_event_tables(con, pseudonym_secret())
    with storage.warehouse() as con:
        rows = write_event_tables(con, tables)
    counts = event_table_counts(tables)
    context.log.info("event tables: " + ", ".join(f"{t} {n}" for t, n in rows.items()))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(rows.values()),
            "rows_by_table": mapping_table(rows, "table", "rows"),
            "rows_by_table_and_level": table(event_table_rows(counts)),
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
