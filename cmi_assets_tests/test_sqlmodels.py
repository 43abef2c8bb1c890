from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cmi_assets.sources.load import ensure_raw_table, ensure_raw_tables
from cmi_assets.sources.spec import all_specs, load_spec
from cmi_assets.sqlmodels import (
    DBT_LIKE_SQL_DIR,
    SqlModelError,
    discover_models,
    leading_comment,
    model_columns,
    parse_model,
    referenced_tables,
    run_model,
    topological_order,
)

MODELS = {"stg_a", "stg_b", "stg_births_registrations"}


@pytest.mark.parametrize(
    "sql, models, raw",
    [
        ("select * from raw.births__registrations", set(), {"births__registrations"}),
        # joins, a subquery in WHERE, a scalar subquery, quoted names, schema-qualified model
        (
            'select r.*, (select max(x) from "raw"."health__maternity") m from raw.births__registrations r '
            "join stg.stg_a a on a.k = r.k left join stg_b using (k) "
            "where r.k in (select k from raw.benefits__spells)",
            {"stg_a", "stg_b"},
            {"births__registrations", "health__maternity", "benefits__spells"},
        ),
        # a CTE named like a model is the CTE, not the model
        ("with stg_a as (select * from raw.reference__areas) select * from stg_a", set(), {"reference__areas"}),
        # ... but a schema-qualified name is never a CTE
        (
            "with births__registrations as (select 1) select * from raw.births__registrations",
            set(),
            {"births__registrations"},
        ),
        # a CTE body cannot see itself (non-recursive) nor later CTEs
        ("with stg_b as (select * from stg_b) select * from stg_b", {"stg_b"}, set()),
        ("with x as (select * from stg_a), stg_a as (select 1) select * from x", {"stg_a"}, set()),
        (
            "with recursive stg_a as (select 1 n union all select n + 1 from stg_a where n < 3) select * from stg_a",
            set(),
            set(),
        ),
        # a CTE inside a derived table does not hide the model outside it
        ("select * from (with stg_a as (select 1) select * from stg_a) t cross join stg_a", {"stg_a"}, set()),
        # unions, lateral subqueries, table functions are not tables
        (
            "select * from stg_a union all select * from (select * from raw.health__maternity) "
            "cross join range(3) cross join read_csv('x.csv')",
            {"stg_a"},
            {"health__maternity"},
        ),
        # names in strings and comments are not tables
        ("-- from raw.corrections__sentences\nselect 'raw.health__maternity' as t from stg_a", {"stg_a"}, set()),
        # case does not matter in DuckDB identifiers
        ("SELECT * FROM RAW.Births__Registrations JOIN STG.STG_A USING (k)", {"stg_a"}, {"births__registrations"}),
    ],
)
def test_referenced_tables(sql, models, raw):
    assert referenced_tables(sql, MODELS) == (models, raw)


@pytest.mark.parametrize(
    "sql, message",
    [
        ("select * from stg_unknown", "neither"),
        ("select * from main.something", "neither"),
        ("select * from raw.births", "not raw.<agency>__<record_type>"),
        ("select 1; select 2", "exactly one SELECT"),
        ("create table x as select 1", "exactly one SELECT"),
        ("select from where", "does not parse"),
    ],
)
def test_invalid_models_are_rejected(sql, message):
    with pytest.raises(SqlModelError, match=message):
        referenced_tables(sql, MODELS)


def test_leading_comment_is_the_description():
    sql = "\n-- First line.\n--   indented\n--\n-- Last.\nselect 1 -- not this\n-- nor this\n"
    assert leading_comment(sql) == "First line.\n  indented\n\nLast."


def _write(folder: Path, name: str, sql: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.sql"
    path.write_text(sql)
    return path


def test_discover_models_orders_dependencies_first(tmp_path):
    _write(tmp_path, "c_top", "-- Top.\nselect * from b_mid join stg.a_base using (k)")
    _write(tmp_path, "b_mid", "-- Middle.\nselect * from a_base")
    _write(tmp_path, "a_base", "-- Base.\nselect * from raw.births__registrations")
    _write(tmp_path, "d_alone", "-- Alone.\nselect * from raw.health__maternity")
    models = discover_models(tmp_path)
    assert [m.name for m in models] == ["a_base", "d_alone", "b_mid", "c_top"]
    top = models[-1]
    assert top.depends_on_models == ("a_base", "b_mid")
    assert top.description == "Top."
    assert models[0].depends_on_raw_agencies == ("births",)
    assert models[0].depends_on_raw_tables == ("raw.births__registrations",)


def test_cycles_are_reported(tmp_path):
    _write(tmp_path, "a", "select * from b")
    _write(tmp_path, "b", "select * from a")
    with pytest.raises(SqlModelError, match="cycle"):
        discover_models(tmp_path)


def test_topological_order_is_deterministic(tmp_path):
    paths = [_write(tmp_path, name, "select 1") for name in ("z", "m", "a")]
    models = [parse_model(p, {"z", "m", "a"}) for p in paths]
    assert [m.name for m in topological_order(models)] == ["a", "m", "z"]


def test_run_model_replaces_the_table_atomically(tmp_path):
    con = duckdb.connect(str(tmp_path / "identified.duckdb"))
    good = parse_model(_write(tmp_path / "v1", "stg_numbers", "select range as n from range(5);\n"), set())
    assert run_model(con, good) == 5
    assert model_columns(con, good) == [("n", "BIGINT")]

    # Fails while running (a failed cast): the old table must survive.
    bad = parse_model(
        _write(tmp_path / "v2", "stg_numbers", "select cast('x' || range as int) as n from range(3)"), set()
    )
    with pytest.raises(duckdb.Error):
        run_model(con, bad)
    assert con.execute("select count(*) from stg.stg_numbers").fetchone()[0] == 5

    trailing_comment = parse_model(_write(tmp_path / "v3", "stg_numbers", "select 1 as n -- one row"), set())
    assert run_model(con, trailing_comment) == 1
    con.close()


# ---- the project's staged models ---------------------------------------------------


def _record_types():
    return {f"stg_{rt.agency}_{rt.name}": rt for spec in all_specs().values() for rt in spec.record_types.values()}


def test_one_staged_model_per_record_type_reading_only_its_raw_table():
    models = {m.name: m for m in discover_models(DBT_LIKE_SQL_DIR)}
    record_types = _record_types()
    assert set(models) == set(record_types)
    for name, model in models.items():
        assert model.depends_on_raw_tables == (f"raw.{record_types[name].table_name}",)
        assert model.depends_on_raw_agencies == (record_types[name].agency,)
        assert model.schema == "stg" and model.description


def test_staged_models_run_on_empty_raw_tables_and_keep_every_spec_column(tmp_path):
    con = duckdb.connect(str(tmp_path / "identified.duckdb"))
    for spec in all_specs().values():
        ensure_raw_tables(con, spec)
    record_types = _record_types()
    for model in discover_models(DBT_LIKE_SQL_DIR):
        assert run_model(con, model) == 0
        columns = [name for name, _ in model_columns(con, model)]
        spec_columns = [c.lower() for c in record_types[model.name].column_names]
        assert columns == [
            "record_key",
            *spec_columns,
            "_extract_file",
            "_extract_sha256",
            "_extract_delivered_at",
            "_row_number",
            "_loaded_at",
        ], model.name
    con.close()


def _insert_spell(con, file: str, delivered: str, spell_id: str, gender: str, first_name: str, benefit: str = "SB"):
    con.execute(
        "insert into raw.benefits__spells (spell_id, client_id, first_name, surname, date_of_birth, gender, "
        "benefit_type, spell_start, incapacity_code, _extract_file, _extract_sha256, _extract_delivered_at, "
        "_row_number, _loaded_at) values (?, '123456789', ?, 'Smith', DATE '1980-01-01', ?, ?, DATE '2010-01-01', "
        "' sub ', ?, 'hash', ?, 2, now())",
        [spell_id, first_name, gender, benefit, file, datetime.fromisoformat(delivered)],
    )


def test_staged_spells_clean_codes_and_keep_the_latest_delivery(tmp_path):
    con = duckdb.connect(str(tmp_path / "identified.duckdb"))
    ensure_raw_table(con, load_spec("benefits").record_types["spells"])
    # One spell delivered twice: the corrected re-delivery (later) must win, whatever the file names.
    _insert_spell(con, "benefits_spells_2010_corrected.csv", "2021-01-01 00:00", "S0000000001", "f", " Jane ")
    _insert_spell(con, "benefits_spells_2010.csv", "2022-06-01 00:00", " S0000000001", " F ", "Janet", "ub")
    _insert_spell(con, "benefits_spells_2010.csv", "2022-06-01 00:00", "S0000000002", "m", "Bob")
    model = next(m for m in discover_models(DBT_LIKE_SQL_DIR) if m.name == "stg_benefits_spells")

    assert run_model(con, model) == 2
    rows = con.execute(
        "select record_key, spell_id, first_name, gender, benefit_type, incapacity_code, _extract_file "
        "from stg.stg_benefits_spells order by spell_id"
    ).fetchall()
    assert rows == [
        ("S0000000001", "S0000000001", "Janet", "F", "UB", "SUB", "benefits_spells_2010.csv"),
        ("S0000000002", "S0000000002", "Bob", "M", "SB", "SUB", "benefits_spells_2010.csv"),
    ]
    con.close()


def test_staged_ncands_keeps_each_submission_year(tmp_path):
    """A report-child pair in two submission years stays twice (CFSR R4 rules, section 2.1
    step 2 chooses between them); a re-delivery of the same year is collapsed."""
    con = duckdb.connect(str(tmp_path / "identified.duckdb"))
    ensure_raw_table(con, load_spec("child_protection").record_types["ncands_child"])
    insert = (
        "insert into raw.child_protection__ncands_child (SUBYR, STATERR, RPTID, CHID, RPTDT, RPTDISP, RPTDISDT, "
        "CHMAL1, MAL1LEV, _extract_file, _extract_delivered_at, _row_number) values "
        "(?, 'AL', 'R1', 'C1', DATE '2020-09-20', ?, DATE '2020-10-05', '2', '1', ?, ?, 2)"
    )
    con.execute(insert, [2020, "01", "ncands_child_AL_FY2020.csv", datetime(2021, 1, 1)])
    con.execute(insert, [2021, "01", "ncands_child_AL_FY2021.csv", datetime(2022, 1, 1)])
    con.execute(insert, [2021, "02", "ncands_child_AL_FY2021_v2.csv", datetime(2022, 2, 1)])
    model = next(m for m in discover_models(DBT_LIKE_SQL_DIR) if m.name == "stg_child_protection_ncands_child")

    assert run_model(con, model) == 2
    rows = con.execute(
        "select subyr, record_key, rptdisp, _extract_file from stg.stg_child_protection_ncands_child order by subyr"
    ).fetchall()
    assert rows == [
        (2020, "AL|R1|C1", "01", "ncands_child_AL_FY2020.csv"),
        (2021, "AL|R1|C1", "02", "ncands_child_AL_FY2021_v2.csv"),
    ]
    con.close()


def _padded_value(column, row: int):
    """A raw value the staged model must clean: padded text, lower-case codes."""
    if column.type == "date":
        return datetime(2020, 1, 1 + row).date()
    if column.type in ("int", "float"):
        return column.codes[0] if column.codes else 1 + row
    if column.codes:
        return f"  {column.codes[0].lower()} "
    return f" v{row} "


def _cleaned_value(column, row: int):
    value = _padded_value(column, row)
    if column.type != "string":
        return value
    return value.strip().upper() if column.codes else value.strip()


def test_every_staged_model_trims_strings_upper_cases_codes_and_blanks_to_null(tmp_path):
    """Spec-driven: for each record type, one padded row per key and one row whose
    non-key strings are only spaces; the staged table must hold them cleaned."""
    con = duckdb.connect(str(tmp_path / "identified.duckdb"))
    record_types = _record_types()
    for model in discover_models(DBT_LIKE_SQL_DIR):
        spec = record_types[model.name]
        ensure_raw_table(con, spec)
        names = list(spec.column_names)
        placeholders = ", ".join("?" for _ in names)
        for row in (0, 1):
            values = [_padded_value(spec.column(n), row) for n in names]
            if row == 1:  # blanks everywhere except the key
                values = [
                    "   " if spec.column(n).type == "string" and n not in spec.key else v for n, v in zip(names, values)
                ]
            con.execute(
                f"insert into raw.{spec.table_name} ({', '.join(names)}, _extract_file, _extract_delivered_at, _row_number) "
                f"values ({placeholders}, 'f.csv', now(), {row + 2})",
                values,
            )
        assert run_model(con, model) == 2, model.name
        staged = con.sql(f"select * from {model.table} order by _row_number").pl()
        for name in names:
            column = spec.column(name)
            assert staged[name.lower()][0] == _cleaned_value(column, 0), (model.name, name)
            if column.type == "string" and name not in spec.key:
                assert staged[name.lower()][1] is None, (model.name, name)
        expected_key = "|".join(str(_cleaned_value(spec.column(k), 0)) for k in spec.key)
        assert staged["record_key"][0] == expected_key, model.name
    con.close()


def test_column_lineage_traces_outputs_through_ctes_and_expressions():
    import duckdb

    from cmi_assets.sqlmodels import SqlModel, column_lineage, input_schema

    con = duckdb.connect()
    con.execute(
        "create schema raw; create table raw.births__registrations(reg_number varchar, child_dob date, child_sex varchar)"
    )
    sql = (
        "with cleaned as (select nullif(trim(reg_number), '') as reg_number, upper(child_sex) as sex, child_dob "
        "from raw.births__registrations) "
        "select reg_number as record_key, sex, date_trunc('month', child_dob) as birth_month, 1 as one from cleaned"
    )
    model = SqlModel(
        name="stg_x",
        path=None,
        sql=sql,
        description="",
        depends_on_models=(),
        depends_on_raw_agencies=("births",),
        depends_on_raw_tables=("raw.births__registrations",),
    )
    lineage = column_lineage(model, input_schema(con, model))
    assert lineage == {
        "record_key": [("raw.births__registrations", "reg_number")],
        "sex": [("raw.births__registrations", "child_sex")],
        "birth_month": [("raw.births__registrations", "child_dob")],
        "one": [],
    }
