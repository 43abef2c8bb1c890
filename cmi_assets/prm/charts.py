"""The report's charts, as markdown images (base64 PNG, so the metadata and the report carry
them without files): Figure 1 (PPV and sensitivity by age), Figure 3 (variables across the
models) and Figure 5 (children observed by weeks since birth)."""

from __future__ import annotations

import polars as pl

from cmi_assets.charts import png_bytes, png_data_uri, pyplot


def figure3_chart(figure3: pl.DataFrame) -> str:
    """Models appearing against mean entry rank, one labelled point per variable."""
    plt = pyplot()
    data = figure3.filter(pl.col("mean_entry_rank").is_not_null())
    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.scatter(data["models_appearing"].to_list(), data["mean_entry_rank"].to_list(), color="#2a7ab9")
    for name, x, y in data.select("variable", "models_appearing", "mean_entry_rank").iter_rows():
        axis.annotate(name, (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points")
    axis.invert_yaxis()
    axis.set_xlabel("models the variable appears in")
    axis.set_ylabel("mean entry rank (1 = first)")
    return f"![Figure 3]({png_data_uri(png_bytes(figure, dpi=80))})"


def figure5_chart(figure5: pl.DataFrame) -> str:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5, 3))
    for column, colour in (
        ("pct_birth_registration", "#2a7ab9"),
        ("pct_benefit", "#c0392b"),
        ("pct_either", "#333333"),
    ):
        axis.plot(figure5["week"].to_list(), figure5[column].to_list(), color=colour, label=column.removeprefix("pct_"))
    axis.axvline(13, color="#999999", linestyle=":")
    axis.set_xlabel("weeks since birth")
    axis.set_ylabel("% of children observed")
    axis.legend(fontsize=7)
    return f"![Figure 5]({png_data_uri(png_bytes(figure, dpi=80))})"


def figure1_chart(figure1: pl.DataFrame) -> str:
    """PPV and sensitivity by age at the top 5% (conservative), as a base64 PNG in markdown."""
    plt = pyplot()
    data = figure1.filter(pl.col("linkage_level") == "conservative")
    figure, axis = plt.subplots(figsize=(5, 3))
    for column, colour in (("ppv", "#2a7ab9"), ("sensitivity", "#c0392b")):
        axis.plot(
            data["age"].to_list(),
            [100 * (v if v is not None else float("nan")) for v in data[column].to_list()],
            marker="o",
            color=colour,
            label=column.upper() if column == "ppv" else column,
        )
    axis.set_xlabel("findings by age")
    axis.set_ylabel("% (top 5% of scores)")
    axis.legend()
    return f"![Figure 1]({png_data_uri(png_bytes(figure, dpi=80))})"
