"""Person linkage: canonical person records from the staged extracts, a Splink model on
DuckDB, two linkage levels (conservative and less conservative, NZ study section 5),
constrained clustering, persistent pseudonymous person keys, incremental linking and
linkage quality (against the synthetic truth and by clerical review).

Plain Python over DuckDB connections and polars frames: no Dagster import here.
Nothing in this package logs or returns an identifying value (names, dates of birth,
agency IDs): summaries are counts and rates only.
"""
