"""What the linkage assets show about a model and its quality, as plain rows and charts (the
assets turn them into Dagster metadata): each comparison level's m, u and match weight, the
blocking rules with their pair counts, the EM passes, a match-weight chart, and the quality
report's pair, agreement and by-group tables. Labels and rates only: no values from the data."""

from __future__ import annotations

import math

import polars as pl

from cmi_assets.charts import png_bytes, png_data_uri, pyplot


def _weighted_levels(artefact: dict):
    """(comparison, level, m, u) of every comparison level that is not the null level."""
    for comparison in artefact["model"]["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level"):
                yield comparison, level, level.get("m_probability"), level.get("u_probability")


def parameter_rows(artefact: dict) -> list[dict]:
    """Each comparison level's m, u and match weight (labels only: no values from the data)."""
    rows = []
    for comparison, level, m, u in _weighted_levels(artefact):
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
    return rows


BLOCKING_COLUMNS = ["rule", "used", "pairs alone", "pairs added"]


def blocking_rows(artefact: dict) -> list[dict]:
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
    return rows


def em_pass_rows(artefact: dict) -> list[dict]:
    return [
        {"EM pass blocked on": p["blocking_rule"], "share of records": p["record_sample_proportion"]}
        for p in artefact["training"]["em_passes"]
    ]


def match_weight_chart(artefact: dict) -> str:
    """A horizontal bar chart of every comparison level's match weight, as a base64 PNG in markdown."""
    plt = pyplot()
    labels, weights = [], []
    for comparison, level, m, u in _weighted_levels(artefact):
        if not m or not u:
            continue
        labels.append(f"{comparison['output_column_name']}: {level.get('label_for_charts', '')}")
        weights.append(math.log2(m / u))
    figure, axis = plt.subplots(figsize=(7, 0.22 * len(labels) + 1))
    axis.barh(range(len(labels)), weights, color=["#2a7ab9" if w >= 0 else "#c0392b" for w in weights])
    axis.set_yticks(range(len(labels)), labels, fontsize=6)
    axis.invert_yaxis()
    axis.axvline(0, color="black", linewidth=0.5)
    axis.set_xlabel("match weight (log2 m/u)")
    return f"![match weights]({png_data_uri(png_bytes(figure, dpi=90))})"


def pair_rows(pairs: dict) -> list[dict]:
    """Pairwise precision, recall and F1 by role (children's, adults', child-adult, all)."""
    return [
        {"role": role, "precision": p["precision"], "recall": p["recall"], "F1": p["f1"], "true pairs": p["true_pairs"]}
        for role, p in pairs.items()
    ]


def agreement_rows(by_group: dict[str, pl.DataFrame]) -> list[dict]:
    return [{"group": group, **row} for group, frame in by_group.items() for row in frame.iter_rows(named=True)]


def quality_by_group_shown(quality_by_group: pl.DataFrame) -> pl.DataFrame:
    return quality_by_group.select(
        "group",
        "value",
        "persons",
        pl.col("pair_precision").alias("pair P"),
        pl.col("pair_recall").alias("pair R"),
        pl.col("cluster_precision").alias("cluster P"),
        pl.col("cluster_recall").alias("cluster R"),
    )


def event_table_rows(counts: dict[str, dict]) -> list[dict]:
    """Rows per event table and linkage level, its person column and the rows without a key."""
    return [
        {
            "table": t,
            "conservative": c["rows_conservative"],
            "less conservative": c["rows_less_conservative"],
            "person column": c["key_column"],
            "without key": c["rows_without_key"],
        }
        for t, c in counts.items()
    ]


def quality_headline_numbers(report: dict, levels) -> dict[str, float]:
    """The spine's pairwise precision and recall over all pairs at each level."""
    return {
        f"{level}/{measure}": float(report[level]["pairs"]["all"][measure])
        for level in levels
        for measure in ("precision", "recall")
    }


def level_quality(result: dict, clusters: pl.DataFrame) -> dict:
    """One level's quality sections as plain rows, mappings and frames: pair measures,
    cluster measures with the size distribution, by source pair, agreement by group and the
    by-group quality shown."""
    from cmi_assets.linkage.clustering import cluster_size_summary

    return {
        "pairs": pair_rows(result["pairs"]),
        "clusters": {**result["clusters"], **cluster_size_summary(clusters)},
        "source_pairs": result["by_source_pair"],
        "agreement": agreement_rows(result["by_group"]),
        "by_group": quality_by_group_shown(result["quality_by_group"]),
    }


def quality_log_line(level: str, result: dict) -> str:
    """One level's child-pair precision and recall and its cluster precision, for the run log."""
    child, cluster_precision = result["pairs"]["child"], result["clusters"]["cluster_precision"]
    return (
        f"{level}: child pairs P {child['precision']:.4f} R {child['recall']:.4f}; "
        f"cluster precision {cluster_precision:.4f}"
    )
