"""The data-profile report: display conventions, DQ shown as DQ, the DQ page, the
national view on the newest published period, self-contained HTML and PNG charts."""

from __future__ import annotations

import base64

import polars as pl

from cmi_assets.cfsr.report import dq_table, format_interval, format_percent, rsp_table, write_cfsr_report


def _trend() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "state": ["AA", "AA", "BB", "BB"],
            "period_fy": [2018, 2019, 2018, 2019],
            "period": ["FY18-19", "FY19-20", "FY18-19", "FY19-20"],
            "denominator": [1000, 1100, 500, 520],
            "numerator": [97, 120, 40, 41],
            "observed": [0.097, None, 0.08, 41 / 520],
            "dq_status": ["pass", "DQ", "pass", "pass"],
            "rsp": [0.1234, None, 0.0801, 0.0711],
            "rsp_lower": [0.1011, None, 0.0601, 0.0521],
            "rsp_upper": [0.1466, None, 0.1049, 0.0955],
            "status": ["worse", "DQ", "no different", "better"],
        }
    )


def _dq() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period_fy": [2019, 2019],
            "period": ["FY19-20", "FY19-20"],
            "state": ["AA", "AA"],
            "check": [1, 3],
            "check_name": ["victim child IDs match across years", "missing age for victims"],
            "files": ["FY2019-FY2020", "FY2019"],
            "numerator": [0, 3],
            "denominator": [800, 1000],
            "rate": [0.0, 0.003],
            "limit": [0.01, 0.05],
            "fails_when": ["below", "above"],
            "result": ["fail", "pass"],
        }
    )


def _national() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period_fy": [2018, 2019],
            "period": ["FY18-19", "FY19-20"],
            "n_states": [2, 1],
            "denominator": [1500, 520],
            "numerator": [137, 41],
            "observed": [137 / 1500, 41 / 520],
            "states_better": [0, 1],
            "states_no_different": [1, 0],
            "states_worse": [1, 0],
            "states_dq": [0, 1],
        }
    )


def test_percent_with_one_decimal_and_dq():
    assert format_percent(0.0974) == "9.7%"
    assert format_percent(0.12345) == "12.3%"
    assert format_percent(None) == "-"
    assert format_percent(0.1, dq=True) == "DQ"
    assert format_interval(0.1011, 0.1466) == "10.1%-14.7%"


def test_rsp_table_shows_dq_periods_without_values():
    table = rsp_table(_trend().filter(pl.col("state") == "AA"))
    assert table.rows[0] == ["FY18-19", "12.3%", "10.1%-14.7%", "worse", "9.7%", "97", "1,000"]
    assert table.rows[1] == ["FY19-20", "DQ", "DQ", "DQ", "DQ", "DQ", "DQ"]
    assert table.markdown().splitlines()[0].startswith("| Period | RSP | RSP interval |")


def test_dq_page_names_the_limit_and_result():
    table = dq_table(_dq())
    assert table.rows[0] == [
        "FY19-20",
        "1. victim child IDs match across years",
        "FY2019-FY2020",
        "0",
        "800",
        "0.0%",
        "DQ when < 1%",
        "fail",
    ]
    assert table.rows[1][6] == "DQ when > 5%"


def test_report_files_per_state_and_national(tmp_path):
    report = write_cfsr_report(tmp_path / "reports", _trend(), _dq(), _national())
    assert set(report.files) == {"AA", "BB", "national"}
    assert all(path.exists() for path in report.files.values())
    aa = report.files["AA"].read_text()
    assert "12.3%" in aa and "<td>DQ</td>" in aa and "victim child IDs match across years" in aa
    assert aa.count("data:image/png;base64,") == 1
    # the national view is the newest period with a published RSP (FY19-20: BB)
    assert "all states, FY19-20" in report.national_markdown
    assert "| BB | 7.1% | 5.2%-9.6% | better |" in report.national_markdown
    assert "| AA | DQ |" in report.national_markdown
    assert report.national_png.startswith(b"\x89PNG\r\n\x1a\n")
    embedded = report.national_markdown.split("data:image/png;base64,")[1].split(")")[0]
    assert base64.b64decode(embedded) == report.national_png


def test_a_suppressed_state_shows_its_denominator_only(tmp_path):
    trend = pl.concat(
        [
            _trend(),
            pl.DataFrame(
                {
                    "state": ["CC"],
                    "period_fy": [2019],
                    "period": ["FY19-20"],
                    "denominator": [7],
                    "numerator": [None],
                    "observed": [None],
                    "dq_status": ["pass"],
                    "rsp": [None],
                    "rsp_lower": [None],
                    "rsp_upper": [None],
                    "status": ["suppressed"],
                },
                schema=_trend().schema,
            ),
        ]
    )
    table = rsp_table(trend.filter(pl.col("state") == "CC"))
    assert table.rows[0] == ["FY19-20", "suppressed", "suppressed", "suppressed", "suppressed", "suppressed", "7"]
    dq = _dq().with_columns(
        numerator=pl.Series([None, 3], dtype=pl.Int64),
        rate=pl.Series([None, 0.003]),
        suppressed=pl.Series([True, False]),
    )
    assert dq_table(dq).rows[0][3:6] == ["suppressed", "800", "suppressed"]
    report = write_cfsr_report(tmp_path, trend, dq, _national().with_columns(states_suppressed=pl.lit(1)))
    cc = report.files["CC"].read_text()
    assert "suppressed" in cc and "<td>7</td>" in cc
    # the summary counts it; the pooled table has a column for it
    assert report.national.summary.startswith("**FY19-20**, 3 states: 1 better, 1 DQ, 1 suppressed.")
    assert report.national.pooled.headers[-1] == "Suppressed" and report.national.pooled.rows[0][-1] == "1"


def test_the_chart_has_a_markdown_entry_of_its_own_and_the_summary_is_one_short_line(tmp_path):
    report = write_cfsr_report(tmp_path, _trend(), _dq(), _national())
    chart = report.national.chart_markdown()
    assert chart.startswith("![All states: RSP and interval, FY19-20](data:image/png;base64,") and chart.endswith(")")
    assert "\n" not in chart and "|" not in chart
    # The Dagster UI renders markdown inline only under 1,000 characters.
    assert len(report.national.summary) < 1000 and "\n" not in report.national.summary
    assert "Pooled observed 7.9%" in report.national.summary and "national performance 9.7%" in report.national.summary
    assert chart in report.national_markdown
