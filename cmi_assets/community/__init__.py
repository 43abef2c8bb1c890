"""Community indicators: rates per 1,000 children by state, county and postcode, period
and group (sex, ethnicity, deprivation decile), with exact intervals, empirical-Bayes
smoothing and NCHS reliability flags, from the analysis zone's linked data. Plain Python
(polars, numpy, DuckDB); no Dagster.

    children = load_children(con, 2012, "conservative", features)    # indicators.py
    table = indicator_table(con, "CT", years, levels, features, cfsr) # table.py: counts, rates
    margin_violations(table)                                          # margins.py (empty: hold)
    with_reliability(with_smoothed_rates(published))                  # rates.py, smoothing.py
"""
