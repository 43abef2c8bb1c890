"""The GUILD-style linkage report on the linked mini world (linkage/conftest.py): its
precision estimate from a stratified sample of pairs against the truth over every link, the
link rates against a count made here record by record, the intervals against statsmodels,
the gap flag on constructed frames, suppression of small cells and the review decisions."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest

from cmi_assets.linkage import guild_report as g
from cmi_assets.publish.disclosure import SUPPRESS_BELOW

# The mini world has about a thousand links a level: sampling
# most of them lets the finite-population correction hold the estimate's error well inside
# the one-point tolerance for any seed (a small sample of a small world would not).
LINKS_SAMPLED = 700
NON_LINKS_SAMPLED = 300


@pytest.fixture(scope="module")
def truth_file(linked_mini, tmp_path_factory):
    path = tmp_path_factory.mktemp("guild_truth") / "record_persons.parquet"
    linked_mini["world"]["truth"].write_parquet(path)
    return path


@pytest.fixture(scope="module")
def report(linked_mini, truth_file):
    return g.build_report(linked_mini["con"], None, truth_file, LINKS_SAMPLED, NON_LINKS_SAMPLED, seed=1)


def _truth_precision_by_hand(con, truth: pl.DataFrame, level: str) -> float:
    """Share of the level's links whose two identities hold a record of one true person."""
    records = con.sql("SELECT identity_id, agency, record_type, record_key, slot FROM linkage.person_records").pl()
    people: dict[int, set] = {}
    by_slot = {(a, t, k, s): p for a, t, k, s, p in truth.iter_rows()}
    for identity, agency, record_type, key, slot in records.iter_rows():
        person = by_slot.get((agency, record_type, key, slot))
        if person is not None:
            people.setdefault(identity, set()).add(person)
    links = con.execute(
        f"SELECT unique_id_l, unique_id_r FROM linkage.person_links WHERE is_link_{level} AND separated_by IS NULL"
    ).fetchall()
    clusters: dict[int, set] = {}
    for identity, cluster in con.execute(
        f"SELECT identity_id, cluster_id FROM linkage.person_clusters WHERE level = '{level}'"
    ).fetchall():
        clusters.setdefault(identity, set()).add(cluster)
    kept = [(a, b) for a, b in links if clusters[a] & clusters[b]]  # the links the spine kept
    true = [bool(people.get(left, set()) & people.get(right, set())) for left, right in kept]
    return sum(true) / len(true)


def test_estimated_precision_within_a_point_of_quality_pairwise_precision(linked_mini, report):
    """linkage_quality's measure: every pair of records put in one cluster."""
    from cmi_assets.linkage.quality import linkage_quality
    from cmi_assets.linkage.spine_run import level_clusters

    con = linked_mini["con"]
    quality = linkage_quality(con, level_clusters(con), linked_mini["world"]["truth"], "linkage.person_records")
    for row in report.precision.iter_rows(named=True):
        pairwise = quality[row["level"]]["pairs"]["all"]["precision"]
        assert abs(row["precision"] - pairwise) < 0.01, (row["level"], row["precision"], pairwise)


def test_estimated_precision_within_a_point_of_the_truth(linked_mini, report):
    truth = linked_mini["world"]["truth"]
    assert report.labels == {"truth": report.labels["truth"]}
    for row in report.precision.iter_rows(named=True):
        by_hand = _truth_precision_by_hand(linked_mini["con"], truth, row["level"])
        assert row["links"] > LINKS_SAMPLED
        # the allocation rounds each band's share, and a band smaller than its share gives all it has
        assert 0.9 * LINKS_SAMPLED <= row["sampled_links"] <= 1.05 * LINKS_SAMPLED
        assert abs(row["precision"] - by_hand) < 0.01, (row["level"], row["precision"], by_hand)
        assert row["ci_low"] <= by_hand <= row["ci_high"]
        assert row["truth_precision"] == pytest.approx(by_hand, abs=0.002)


def test_other_seeds_stay_within_a_point_too(linked_mini, truth_file):
    con = linked_mini["con"]
    pairs = g.scored_pairs(con)
    persons = g.identity_true_persons(con, pl.read_parquet(truth_file))
    for level in ("conservative", "less_conservative"):
        truth = g.truth_precision(pairs, persons, level)
        for seed in range(2, 7):
            sample = g.label_sample(g.draw_pair_sample(pairs, level, LINKS_SAMPLED, 0, seed), None, persons)
            assert abs(g.estimated_precision(sample, level)["precision"] - truth) < 0.01, (level, seed)


def test_a_small_sample_is_less_precise_than_the_large_one(linked_mini, truth_file, report):
    small = g.build_report(linked_mini["con"], None, truth_file, 60, 60, seed=1).precision
    for big_row, small_row in zip(report.precision.iter_rows(named=True), small.iter_rows(named=True)):
        assert small_row["sampled_links"] < big_row["sampled_links"]
        assert small_row["ci_high"] - small_row["ci_low"] > big_row["ci_high"] - big_row["ci_low"]


def _hand_counts(con) -> dict[tuple, list[int]]:
    """(level, unit, group_type, value) -> [population, linked], record by record."""
    records = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT unique_id, agency, record_type, slot, role, sex FROM linkage.person_records"
        ).fetchall()
    }
    members: dict[tuple, list[int]] = {}
    for level, unique_id, cluster in con.execute(
        "SELECT level, unique_id, cluster_id FROM linkage.person_clusters"
    ).fetchall():
        members.setdefault((level, cluster), []).append(unique_id)
    counts: dict[tuple, list[int]] = {}

    def add(key, linked):
        cell = counts.setdefault(key, [0, 0])
        cell[0] += 1
        cell[1] += bool(linked)

    for (level, _), ids in members.items():
        agencies = {records[i][0] for i in ids}
        registered = any(records[i][:3] == ("births", "registrations", "child") for i in ids)
        for i in ids:
            agency, record_type, slot, role, sex = records[i]
            other = len(agencies) > 1
            sex = sex or "unknown"
            for group_type, value in (("all", "all"), ("source", f"{agency}/{record_type}"), ("sex", sex)):
                add((level, "records", group_type, value), other)
            if (agency, record_type, slot) == ("births", "registrations", "child"):
                add((level, "cohort_children", "all", "all"), other)
                add((level, "cohort_children", "sex", sex), other)
            elif role == "child":
                add((level, "child_records", "all", "all"), registered)
                add((level, "child_records", "source", f"{agency}/{record_type}"), registered)
    return counts


def test_link_rates_equal_a_count_record_by_record(linked_mini):
    rates = g.link_rates(g.link_outcomes(linked_mini["con"]))
    shown = {(r["level"], r["unit"], r["group_type"], r["group_value"]): r for r in rates.iter_rows(named=True)}
    expected = _hand_counts(linked_mini["con"])
    assert len(expected) > 20
    for key, (population, linked) in expected.items():
        assert (shown[key]["population"], shown[key]["linked"]) == (population, linked), key
        assert shown[key]["rate"] == pytest.approx(linked / population)
    # both levels, and a less conservative level links at least as many records
    for unit in g.UNITS:
        cons = shown[("conservative", unit, "all", "all")]["linked"]
        assert cons <= shown[("less_conservative", unit, "all", "all")]["linked"]


def test_record_outcomes_join_by_hash_not_nested_loop(linked_mini):
    """Every join of the per-record query has an equality DuckDB can hash: a nested-loop
    join is quadratic in the records and did not finish on a state's volume. The mini
    world's registrations carry no ethnicity (nor the staged record_key), so they are added inside a transaction that
    is rolled back."""
    con = linked_mini["con"]
    con.begin()
    try:
        con.execute(f"ALTER TABLE {g.REGISTRATIONS_TABLE} ADD COLUMN record_key VARCHAR")
        con.execute(f"ALTER TABLE {g.REGISTRATIONS_TABLE} ADD COLUMN ethnicity VARCHAR")
        con.execute(
            f"UPDATE {g.REGISTRATIONS_TABLE} SET record_key = CAST(reg_number AS VARCHAR),"
            " ethnicity = 'group ' || (hash(reg_number) % 3)"
        )
        plan = con.execute("EXPLAIN " + g._record_sql(con, g.PERSON_RECORDS_TABLE, g.CLUSTERS_TABLE)).fetchall()[0][1]
        rows = con.sql(g._record_sql(con, g.PERSON_RECORDS_TABLE, g.CLUSTERS_TABLE)).pl()
    finally:
        con.rollback()
    assert "HASH_JOIN" in plan and "NL_JOIN" not in plan and "NESTED_LOOP" not in plan
    # the registration records, and only they, take their ethnicity from the registrations
    with_ethnicity = rows.filter(pl.col("ethnicity").is_not_null())
    assert with_ethnicity.height == rows.filter(pl.col("is_registration")).height > 0
    assert with_ethnicity["is_registration"].all()


def test_intervals_are_clopper_pearson_as_statsmodels_computes_them(linked_mini):
    from statsmodels.stats.proportion import proportion_confint

    rates = g.link_rates(g.link_outcomes(linked_mini["con"]))
    low, high = proportion_confint(rates["linked"].to_numpy(), rates["population"].to_numpy(), 0.05, method="beta")
    assert np.allclose(rates["ci_low"].to_numpy(), low, atol=1e-10)
    assert np.allclose(rates["ci_high"].to_numpy(), high, atol=1e-10)
    edge_low, edge_high = g.clopper_pearson([0, 12, 3], [12, 12, 40])
    ref_low, ref_high = proportion_confint(np.array([0, 12, 3]), np.array([12, 12, 40]), 0.05, method="beta")
    assert np.allclose(edge_low, ref_low) and np.allclose(edge_high, ref_high)
    assert edge_low[0] == 0.0 and edge_high[1] == 1.0


def _rates(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [("conservative", "records", t, v, n, k) for t, v, n, k in rows],
        schema=["level", "unit", "group_type", "group_value", "population", "linked"],
        orient="row",
    ).with_columns((pl.col("linked") / pl.col("population")).alias("rate"))
    low, high = g.clopper_pearson(frame["linked"], frame["population"])
    return frame.with_columns(pl.Series("ci_low", low), pl.Series("ci_high", high))


def test_the_gap_flag_fires_at_six_points_and_not_at_four():
    rates = _rates(
        [("all", "all", 2000, 1600), ("sex", "F", 1000, 860), ("sex", "M", 1000, 740), ("age_band", "0-4", 500, 380)]
    )
    gaps = {r["group_value"]: r for r in g.subgroup_gaps(rates).iter_rows(named=True)}
    assert gaps["F"]["gap_points"] == pytest.approx(6.0) and gaps["F"]["flagged"]
    assert gaps["M"]["gap_points"] == pytest.approx(-6.0) and gaps["M"]["flagged"]
    assert gaps["0-4"]["gap_points"] == pytest.approx(-4.0) and not gaps["0-4"]["flagged"]
    four = _rates([("all", "all", 2000, 1600), ("sex", "F", 1000, 840), ("sex", "M", 1000, 760)])
    assert not g.subgroup_gaps(four)["flagged"].any()
    # the flagged come first, and a suppressed subgroup (null rate) is never flagged
    assert set(g.subgroup_gaps(rates)["group_value"].to_list()[:2]) == {"F", "M"}
    hidden = rates.with_columns(
        pl.when(pl.col("group_value") == "F").then(None).otherwise(pl.col("rate")).alias("rate")
    )
    assert g.subgroup_gaps(hidden).filter(pl.col("flagged"))["group_value"].to_list() == ["M"]


def test_small_cells_are_suppressed_with_a_complementary_cell():
    rates = _rates([("all", "all", 400, 300), ("sex", "F", 200, 150), ("sex", "M", 195, 146), ("sex", "unknown", 5, 4)])
    published = g.published_link_rates(rates)
    by = {r["group_value"]: r for r in published.iter_rows(named=True)}
    assert by["unknown"]["suppression_reason"] == "primary" and by["unknown"]["linked"] is None
    assert by["unknown"]["rate"] is None and by["unknown"]["ci_low"] is None
    assert by["unknown"]["population"] == 5  # the population stays shown, as in every published table
    complementary = [v for v, r in by.items() if r["suppression_reason"] == "complementary"]
    assert complementary and all(by[v]["linked"] is None for v in complementary)
    # a count of 1 to 10 linked in a large population is hidden too
    few = g.published_link_rates(_rates([("all", "all", 400, 300), ("sex", "F", 200, 7), ("sex", "M", 200, 293)]))
    assert few.filter(pl.col("group_value") == "F")["suppression_reason"].to_list() == ["primary"]
    # and nothing is hidden when every cell is large
    large = _rates([("all", "all", 400, 300), ("sex", "F", 200, 150), ("sex", "M", 200, 150)])
    assert not g.published_link_rates(large)["suppressed"].any()


def test_histogram_bins_sum_to_the_scored_pairs_and_small_bins_are_hidden(linked_mini):
    pairs = g.scored_pairs(linked_mini["con"])
    histogram = g.weight_histogram(pairs)
    for level in ("conservative", "less_conservative"):
        mine = histogram.filter((pl.col("level") == level) & (pl.col("row") == "bin"))
        assert mine["pairs"].sum() == pairs.height
        assert mine.filter(pl.col("status") == "linked")["pairs"].sum() == pairs[f"linked_{level}"].sum()
    published = g.published_histogram(histogram)
    assert published.filter(pl.col("pairs").is_between(1, SUPPRESS_BELOW - 1)).is_empty()
    hidden = published.filter(pl.col("suppressed"))
    assert hidden.height and hidden.filter(pl.col("suppression_reason") == "primary").height
    # no status total is left with exactly one hidden bin (it would give that bin away)
    per_total = hidden.group_by("level", "status").len()
    assert per_total["len"].min() >= 2


def test_error_table_bands_and_the_overall_false_link_rate(linked_mini, report):
    errors = report.linkage_error
    for level in ("conservative", "less_conservative"):
        overall = errors.filter((pl.col("level") == level) & (pl.col("status") == "linked") & (pl.col("band") == "all"))
        [precision] = report.precision.filter(pl.col("level") == level)["precision"].to_list()
        assert overall["error_rate"].item() == pytest.approx(1 - precision)
    assert set(errors["band"]) == {label for _, _, label in g.ERROR_BANDS} | {"all"}
    shown = errors.filter(~pl.col("suppressed") & pl.col("error_rate").is_not_null())
    assert (shown["ci_low"] <= shown["error_rate"]).all() and (shown["error_rate"] <= shown["ci_high"]).all()
    assert errors.filter(pl.col("pairs").is_between(1, SUPPRESS_BELOW - 1)).is_empty()


def test_no_identifier_column_or_value_is_written(linked_mini, report, tmp_path):
    con = linked_mini["con"]
    warehouse = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    rows = g.write_report(warehouse, report)
    assert set(rows) == set(report.tables())
    ids = {str(u) for (u,) in con.execute("SELECT unique_id FROM linkage.person_records").fetchall()}
    ids |= {str(u) for (u,) in con.execute("SELECT identity_id FROM linkage.person_records").fetchall()}
    ids |= {k for (k,) in con.execute("SELECT person_key FROM linkage.person_spine").fetchall()}
    ids |= {v for (v,) in con.execute("SELECT record_key FROM linkage.person_records").fetchall()}
    ids |= {
        v for (v,) in con.execute("SELECT person_id FROM linkage.person_records WHERE person_id IS NOT NULL").fetchall()
    }
    names = {
        v
        for (v,) in con.execute(
            "SELECT family_name FROM linkage.person_records WHERE family_name IS NOT NULL"
        ).fetchall()
    }
    for name in rows:
        frame = warehouse.sql(f"SELECT * FROM {g.REPORT_SCHEMA}.{name}").pl()
        assert not g.identifying_columns(frame), name
        values = {str(v) for row in frame.iter_rows() for v in row if v is not None}
        assert not values & ids and not {v.upper() for v in values} & names, name
    leaky = g.GuildReport(
        **{**report.__dict__, "precision": report.precision.with_columns(pl.lit("k").alias("person_key"))}
    )
    with pytest.raises(ValueError, match="identifying columns"):
        g.write_report(warehouse, leaky)
    warehouse.close()


def _decisions_con(pairs: pl.DataFrame, rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    """linkage.review_decisions as the review library records it: (decision_id, unique_id_l,
    unique_id_r, decision, decided_at) per row."""
    from cmi_assets.linkage.review import create_decisions_table, pair_id

    con = duckdb.connect()
    create_decisions_table(con)
    con.executemany(
        """INSERT INTO linkage.review_decisions (decision_id, pair_id, unique_id_l, unique_id_r, decision, reviewer,
           decided_at, source_file) VALUES (?, ?, ?, ?, ?, 'r', ?, 'f.csv')""",
        [(i, pair_id(left, right), left, right, d, at) for i, left, right, d, at in rows],
    )
    return con


def test_the_latest_review_decision_wins_and_overrides_the_truth(linked_mini, truth_file):
    pairs = g.scored_pairs(linked_mini["con"])
    (l1, r1), (l2, r2), (l3, r3) = pairs.select("unique_id_l", "unique_id_r").head(3).rows()
    con = _decisions_con(
        pairs,
        [
            (1, l1, r1, "match", "2026-01-01"),
            (2, l1, r1, "non_match", "2026-02-01"),  # later: wins
            (3, r2, l2, "match", "2026-01-01"),  # either orientation
            (4, l3, r3, "unsure", "2026-01-01"),
        ],
    )
    assert g.review_decisions(duckdb.connect()) is None  # no table: nothing read
    decisions = g.review_decisions(con)
    by = {(r["unique_id_l"], r["unique_id_r"]): r["is_match"] for r in decisions.iter_rows(named=True)}
    assert by == {(l1, r1): False, (l2, r2): True, (l3, r3): None}
    persons = g.identity_true_persons(linked_mini["con"], pl.read_parquet(truth_file))
    sample = g.level_pairs(pairs, "conservative").head(3)
    labelled = g.label_sample(sample, decisions, persons)
    assert labelled["label_source"].to_list() == ["review", "review", "truth"]
    assert labelled["is_match"].to_list()[:2] == [False, True]


def test_reviewed_pairs_of_every_band_give_the_truth_exactly(linked_mini, truth_file):
    """Without truth the decided pairs are the sample, post-stratified by band: when the
    reviewers decided every link, the estimate is the census."""
    pairs = g.before_review(g.scored_pairs(linked_mini["con"]))
    persons = g.identity_true_persons(linked_mini["con"], pl.read_parquet(truth_file))
    links = g.truth_pair_labels(pairs.filter(pl.col("linked_less_conservative")), persons)
    decisions = links.select(
        "unique_id_l", "unique_id_r", pl.when(pl.col("is_match")).then(pl.lit("match")).otherwise(pl.lit("non_match"))
    ).rows()
    con = _decisions_con(pairs, [(i, lft, rgt, d, "2026-01-01") for i, (lft, rgt, d) in enumerate(decisions)])
    decided = g.review_decisions(con)
    sample = g.label_sample(g.reviewed_as_sample(pairs, decided, "less_conservative"), decided, None)
    estimate = g.estimated_precision(sample, "less_conservative")
    assert estimate["precision"] == pytest.approx(g.truth_precision(pairs, persons, "less_conservative"))
    assert estimate["sampled_links"] == pairs["linked_less_conservative"].sum()


def test_a_tie_in_time_goes_to_the_later_decision_id(linked_mini):
    pairs = g.scored_pairs(linked_mini["con"])
    left, right = pairs.select("unique_id_l", "unique_id_r").row(0)
    con = _decisions_con(pairs, [(6, left, right, "match", "2026-03-01"), (5, left, right, "non_match", "2026-03-01")])
    assert g.review_decisions(con)["is_match"].to_list() == [True]


def test_indicator_difference_and_its_suppression():
    indicators = pl.DataFrame(
        {
            "level": ["conservative", "less_conservative"] * 2,
            "indicator": ["a", "a", "b", "b"],
            "count": [40, 46, 12, 7],
            "population": [1000, 990, 1000, 990],
        }
    ).with_columns((1000 * pl.col("count") / pl.col("population")).alias("per_1000"))
    published = g.published_indicators(indicators)
    diff = {r["indicator"]: r for r in published.filter(pl.col("level") == "difference").iter_rows(named=True)}
    assert diff["a"]["count"] == 6 and diff["a"]["per_1000"] == pytest.approx(46 / 0.99 - 40)
    assert not diff["a"]["suppressed"]
    # 7 children at the less conservative level: hidden there, and so is the difference
    hidden = published.filter((pl.col("indicator") == "b") & (pl.col("level") != "conservative"))
    assert hidden["suppressed"].all() and hidden["count"].is_null().all() and hidden["per_1000"].is_null().all()


def test_without_truth_the_reviewed_pairs_are_the_sample(linked_mini, truth_file):
    """build_report on a copy of the linked world holding review decisions and no truth:
    the decided pairs are the sample, at their status before review."""
    con = linked_mini["con"]
    pairs = g.scored_pairs(con)
    persons = g.identity_true_persons(con, pl.read_parquet(truth_file))
    links = g.truth_pair_labels(pairs.filter(pl.col("flagged_conservative")), persons).head(300)
    rows = [
        (i, left, right, "match" if same else "non_match", "2026-01-01")
        for i, (left, right, same) in enumerate(links.select("unique_id_l", "unique_id_r", "is_match").rows())
    ]
    copy = duckdb.connect()
    con.execute("ATTACH ':memory:' AS guild_copy")
    try:
        con.execute("COPY FROM DATABASE memory TO guild_copy")
        for table in ("person_records", "person_clusters", "person_pairs", "person_links"):
            copy.register(table, con.sql(f"SELECT * FROM guild_copy.linkage.{table}").pl())
    finally:
        con.execute("DETACH guild_copy")
    copy.execute("CREATE SCHEMA linkage")
    for table in ("person_records", "person_clusters", "person_pairs", "person_links"):
        copy.execute(f"CREATE TABLE linkage.{table} AS SELECT * FROM {table}")
        copy.unregister(table)
    from cmi_assets.linkage.review import create_decisions_table, pair_id

    create_decisions_table(copy)
    copy.executemany(
        """INSERT INTO linkage.review_decisions (decision_id, pair_id, unique_id_l, unique_id_r, decision, reviewer,
           decided_at, source_file) VALUES (?, ?, ?, ?, ?, 'r', ?, 'f.csv')""",
        [(i, pair_id(a, b), a, b, d, at) for i, a, b, d, at in rows],
    )
    report = g.build_report(copy, None, None, 10, 10, seed=1)
    assert report.labels == {"review": 600} and "reviewed pairs" in report.sample_design  # both levels
    [row] = report.precision.filter(pl.col("level") == "conservative").rows(named=True)
    assert row["sampled_links"] == 300 and row["truth_precision"] is None

    def band(weight):
        return next(
            label
            for low, high, label in g.ERROR_BANDS
            if (low is None or weight >= low) and (high is None or weight < high)
        )

    flagged = pairs.filter(pl.col("flagged_conservative"))
    sizes: dict[str, int] = {}
    for weight in flagged["match_weight"]:
        sizes[band(weight)] = sizes.get(band(weight), 0) + 1
    decided: dict[str, list] = {}
    weights = dict(zip(zip(pairs["unique_id_l"], pairs["unique_id_r"]), pairs["match_weight"]))
    for left, right, same in links.select("unique_id_l", "unique_id_r", "is_match").rows():
        decided.setdefault(band(weights[(left, right)]), []).append(same)
    # post-stratified: each band's decided share, weighted by the band's share of all flagged links
    expected = sum(sizes[b] * (sum(v) / len(v)) for b, v in decided.items()) / sum(sizes[b] for b in decided)
    assert row["precision"] == pytest.approx(expected)
    copy.close()


def test_the_report_fetches_counts_and_samples_not_a_row_per_record_or_pair(linked_mini):
    """What build_report takes out of DuckDB does not grow with the records and the pairs:
    the outcomes are counted per subgroup combination (n members each), the pairs stay in a
    temporary table, and only stratum counts, histogram bins and the drawn pairs come out."""
    con = linked_mini["con"]
    (records,) = con.execute(f"SELECT count(*) FROM {g.PERSON_RECORDS_TABLE}").fetchone()
    (n_pairs,) = con.execute(f"SELECT count(*) FROM {g.PAIRS_TABLE}").fetchone()
    outcomes = g.link_outcomes(con)
    assert outcomes.height < records / 2
    for level in ("conservative", "less_conservative"):
        mine = outcomes.filter((pl.col("level") == level) & (pl.col("unit") == "records"))
        assert mine["n"].sum() == records
    pairs = g.scored_pairs_table(con, name="_test_scored_pairs")
    try:
        assert isinstance(pairs, duckdb.DuckDBPyRelation)
        sizes = g.stratum_sizes(pairs, "conservative", con)
        assert sizes.height <= 2 * len(g.ERROR_BANDS) and sizes["pairs"].sum() == n_pairs
        histogram = g.weight_histogram(pairs, con=con)
        assert histogram.height < n_pairs / 10
        sample = g.draw_pair_sample(pairs, "conservative", 40, 40, seed=1, con=con)
        assert sample.height <= 80 + 2 * len(g.ERROR_BANDS)  # at least 2 a band
        # one draw for a seed, from the table or from the frame of the same pairs
        frame = g.draw_pair_sample(g.scored_pairs(con), "conservative", 40, 40, seed=1)
        assert sample.equals(frame)
        other = g.draw_pair_sample(pairs, "conservative", 40, 40, seed=2, con=con)
        assert not sample.select("unique_id_l", "unique_id_r").equals(other.select("unique_id_l", "unique_id_r"))
    finally:
        con.execute("DROP TABLE temp._test_scored_pairs")
