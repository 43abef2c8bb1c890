"""Person linkage: canonical person records from the staged extracts, a Splink model on
DuckDB, two linkage levels (conservative and less conservative, NZ study section 5),
constrained clustering, persistent pseudonymous person keys, incremental linking and
linkage quality (against the synthetic truth and by clerical review).

Plain Python over DuckDB connections and polars frames: no Dagster import here.
Nothing in this package logs or returns an identifying value (names, dates of birth,
agency IDs): summaries are counts and rates only.
"""

# More records than one person plausibly has across every source (the busiest synthetic
# caregivers hold about 300: benefit spells, notifications, their children's records); the
# spine's summary, linkage_quality and the max_cluster_size check share it. Here, not in
# clustering, so the Dagster checks read it without importing scipy at load time.
IMPLAUSIBLE_CLUSTER_RECORDS = 1000
