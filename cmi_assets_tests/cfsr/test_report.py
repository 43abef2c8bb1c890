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
            "period_fy": [2019, 2019], "period": ["FY19-20", "FY19-20"], "state": ["AA", "AA"], "check": [1, 3],
            "check_name": ["victim child IDs match across years", "missing age for victims"],
            "files": ["FY2019-FY2020", "FY2019"], "numerator": [0, 3], "denominator": [800, 1000],
            "rate": [0.0, 0.003], "limit": [0.01, 0.05], "fails_when": ["below", "above"], "result": ["fail", "pass"],
        }
    )  # fmt: skip


def _national() -> pl.DataFrame:
    return pl.DataFrame(
        {"period_fy": [2018, 2019], "period": ["FY18-19", "FY19-20"], "n_states": [2, 1], "denominator": [1500, 520],
         "numerator": [137, 41], "observed": [137 / 1500, 41 / 520], "states_better": [0, 1],
         "states_no_different": [1, 0], "states_worse": [1, 0], "states_dq": [0, 1]}
    )  # fmt: skip


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
        "FY19-20", "1. victim child IDs match across years", "FY2019-FY2020", "0", "800", "0.0%", "DQ when < 1%", "fail",
    ]  # fmt: skip
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
