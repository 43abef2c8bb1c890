"""Run dbt_like_sql/: plain DuckDB SELECTs, one file = one table = one asset.

A model's name is its file stem; its description is the file's leading `--` comment
block; it is materialised as <schema>.<name> (schema `stg`, identified zone). Its
dependencies come from the tables the SELECT reads, parsed with sqlglot (never
regex, which cannot tell a CTE or a string from a table):
  raw.<agency>__<record_type>    -> the raw_<agency> asset
  stg.<model> or a bare <model>  -> that model (another file in the folder)
A bare name that a WITH clause around it defines is a CTE, not a dependency; a
schema-qualified name never is. Any other table is an error, so a typo fails when
the folder is loaded rather than when the model runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_LIKE_SQL_DIR = Path(os.environ.get("CMI_SQL_DIR", PROJECT_ROOT / "dbt_like_sql"))
STAGED_SCHEMA = "stg"
RAW_SCHEMA = "raw"
DIALECT = "duckdb"


class SqlModelError(ValueError):
    """A model file that cannot be run: not one SELECT, unknown table, cycle."""


@dataclass(frozen=True)
class SqlModel:
    name: str
    path: Path
    sql: str  # the file's text (comment block included)
    description: str
    depends_on_models: tuple[str, ...]
    depends_on_raw_agencies: tuple[str, ...]
    schema: str = STAGED_SCHEMA
    depends_on_raw_tables: tuple[str, ...] = ()  # "raw.<agency>__<record_type>"

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def select_sql(self) -> str:
        """The SELECT to materialise, without a trailing semicolon."""
        return self.sql.strip().rstrip(";").rstrip()


def discover_models(folder: Path = DBT_LIKE_SQL_DIR) -> list[SqlModel]:
    """Every *.sql model in `folder`, dependencies before dependants (ties by name)."""
    paths = sorted(Path(folder).glob("*.sql"))
    names = {path.stem.lower() for path in paths}
    models = [parse_model(path, names) for path in paths]
    return topological_order(models)


def parse_model(path: Path, model_names: set[str], schema: str = STAGED_SCHEMA) -> SqlModel:
    """One model file; `model_names` are the folder's models (for bare-name references)."""
    sql = Path(path).read_text(encoding="utf-8")
    name = Path(path).stem.lower()
    models, raw_tables = referenced_tables(sql, model_names, schema, where=Path(path).name)
    if name in models:
        raise SqlModelError(f"{Path(path).name}: a model cannot read its own table")
    return SqlModel(
        name=name,
        path=Path(path),
        sql=sql,
        description=leading_comment(sql),
        depends_on_models=tuple(sorted(models)),
        depends_on_raw_agencies=tuple(sorted({table.split("__", 1)[0] for table in raw_tables})),
        schema=schema,
        depends_on_raw_tables=tuple(f"{RAW_SCHEMA}.{table}" for table in sorted(raw_tables)),
    )


def leading_comment(sql: str) -> str:
    """The `--` comment block at the top of a file, as plain text."""
    lines = []
    for line in sql.lstrip().splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        text = stripped[2:]
        lines.append(text[1:] if text.startswith(" ") else text)
    return "\n".join(lines).strip()


def referenced_tables(
    sql: str, model_names: set[str], schema: str = STAGED_SCHEMA, where: str = "model"
) -> tuple[set[str], set[str]]:
    """(models, raw tables without schema) that one SELECT reads."""
    query = _parse_single_query(sql, where)
    models: set[str] = set()
    raw_tables: set[str] = set()
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function such as read_csv(...) or range(...)
        db, name = table.db.lower(), table.name.lower()
        if not db and _is_cte_reference(table, name):
            continue
        if db == RAW_SCHEMA:
            if "__" not in name:
                raise SqlModelError(f"{where}: raw.{name} is not raw.<agency>__<record_type>")
            raw_tables.add(name)
        elif db in ("", schema) and name in model_names:
            models.add(name)
        else:
            qualified = f"{db}.{name}" if db else name
            raise SqlModelError(
                f"{where}: reads {qualified}, which is neither raw.<agency>__<record_type> nor a model in the folder"
            )
    return models, raw_tables


def _parse_single_query(sql: str, where: str) -> exp.Query:
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise SqlModelError(
            f"{where}: SQL does not parse ({exc.errors[0].get('description') if exc.errors else exc})"
        ) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SqlModelError(f"{where}: a model must be exactly one SELECT statement")
    return statements[0]


def _is_cte_reference(table: exp.Table, name: str) -> bool:
    """Whether a CTE called `name` is visible where `table` stands.

    From inside a CTE's own body only the CTEs before it are visible (and itself,
    in a WITH RECURSIVE); from the main query, all of them.
    """
    child, node = table, table.parent
    entered: exp.With | None = None
    while node is not None:
        if isinstance(node, exp.With):
            position = next(i for i, cte in enumerate(node.expressions) if cte is child)
            visible = node.expressions[: position + 1 if node.args.get("recursive") else position]
            if any(cte.alias_or_name.lower() == name for cte in visible):
                return True
            entered = node
        else:
            with_clause = node.args.get("with_") or node.args.get("with")
            if isinstance(with_clause, exp.With) and with_clause is not entered:
                if any(cte.alias_or_name.lower() == name for cte in with_clause.expressions):
                    return True
        child, node = node, node.parent
    return False


def topological_order(models: list[SqlModel]) -> list[SqlModel]:
    """Models with every dependency first; among ready models, alphabetical."""
    by_name = {model.name: model for model in models}
    waiting = {model.name: set(model.depends_on_models) for model in models}
    ordered: list[SqlModel] = []
    while waiting:
        ready = sorted(name for name, deps in waiting.items() if not deps)
        if not ready:
            raise SqlModelError(f"dependency cycle among models: {', '.join(sorted(waiting))}")
        for name in ready:
            ordered.append(by_name[name])
            del waiting[name]
        for deps in waiting.values():
            deps.difference_update(ready)
    return ordered


def run_model(con: duckdb.DuckDBPyConnection, model: SqlModel) -> int:
    """CREATE OR REPLACE <schema>.<name> AS the model's SELECT, atomically; returns its row count."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {model.schema}")
        # Newline first: the SELECT may end in a `--` comment.
        con.execute(f"CREATE OR REPLACE TABLE {model.table} AS\n{model.select_sql}\n")
        rows = con.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(rows)


def model_columns(con: duckdb.DuckDBPyConnection, model: SqlModel) -> list[tuple[str, str]]:
    """(column, DuckDB type) of the model's table, in order."""
    return [
        (row[0], row[1])
        for row in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [model.schema, model.name],
        ).fetchall()
    ]


def input_schema(con: duckdb.DuckDBPyConnection, model: SqlModel) -> dict[str, dict[str, dict[str, str]]]:
    """{schema: {table: {column: type}}} of the tables a model reads, from the live database
    (what sqlglot needs to expand `*` and resolve columns)."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for qualified in model.depends_on_raw_tables + tuple(f"{STAGED_SCHEMA}.{m}" for m in model.depends_on_models):
        db, table = qualified.split(".", 1)
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [db, table],
        ).fetchall()
        schema.setdefault(db, {})[table] = {name: kind for name, kind in rows}
    return schema


def column_lineage(model: SqlModel, schema: dict[str, dict[str, dict[str, str]]]) -> dict[str, list[tuple[str, str]]]:
    """Each output column -> the (schema.table, column) pairs it is computed from,
    traced through CTEs and expressions by sqlglot's lineage."""
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify

    tree = qualify(sqlglot.parse_one(model.select_sql, dialect=DIALECT), schema=schema, dialect=DIALECT)
    result: dict[str, list[tuple[str, str]]] = {}
    for select in tree.selects:
        output = select.alias_or_name
        node = lineage(output, tree, schema=schema, dialect=DIALECT)
        sources: list[tuple[str, str]] = []
        for leaf in node.walk():
            if leaf.downstream or not isinstance(leaf.source, exp.Table):
                continue
            pair = (f"{leaf.source.db}.{leaf.source.name}", leaf.name.split(".")[-1].strip('"'))
            if pair not in sources:
                sources.append(pair)
        result[output] = sources
    return result


def asset_name_for_table(qualified_table: str) -> str:
    """raw.<agency>__<record_type> -> raw_<agency>; stg.<model> -> <model>."""
    db, table = qualified_table.split(".", 1)
    return f"raw_{table.split('__', 1)[0]}" if db == RAW_SCHEMA else table
