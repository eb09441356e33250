"""The civil-affairs (民政) database as the district's legacy system lays it out.

Five business tables, each with an integer ``id``, a case number (业务编号) and an
``updated_at`` the application stamps on every save, indexed with ``id`` for keyset
reads. Every column carries a Chinese comment: ``COMMENT ON`` in PostgreSQL; in SQLite,
which has no comments, inline ``--`` comments in the DDL (kept in ``sqlite_master``) plus
the data-dictionary table ``sys_column_comment`` that such systems keep.

Constraints are as loose as a legacy system's: only ``id`` is required, so tests can write
the rows real systems end up holding (no case number, no stamp).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DICTIONARY_TABLE", "TABLES", "TEXT_TYPES", "Column", "Table", "ddl"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # portable SQL type; ``TEXT_TYPES`` are character data
    comment: str


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    comment: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def text_columns(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.type.startswith(TEXT_TYPES))


TEXT_TYPES = ("VARCHAR", "CHAR")
DICTIONARY_TABLE = "sys_column_comment"

_PERSON = (
    Column("id", "BIGINT", "主键"),
    Column("case_no", "VARCHAR(20)", "业务编号"),
    Column("name", "VARCHAR(40)", "姓名"),
    Column("id_number", "VARCHAR(20)", "公民身份号码"),
    Column("gender", "CHAR(1)", "性别（1男 2女）"),
    Column("birth_date", "DATE", "出生日期"),
    Column("phone", "VARCHAR(30)", "联系电话"),
    Column("address", "VARCHAR(200)", "住址"),
)
_STAMP = Column("updated_at", "TIMESTAMP", "最后更新时间（应用每次保存时写入）")
_AMOUNT = Column("monthly_amount", "NUMERIC(10,2)", "月发放金额（元）")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "dibao",
            "最低生活保障对象（低保，每位家庭成员一行）",
            (
                *_PERSON,
                Column("household_no", "VARCHAR(20)", "低保户编号"),
                Column("relation", "VARCHAR(10)", "与户主关系"),
                Column("member_count", "INTEGER", "家庭保障人口"),
                Column("monthly_amount", "NUMERIC(10,2)", "全户月保障金额（元）"),
                Column("approval_date", "DATE", "批准日期"),
                Column("status", "VARCHAR(10)", "保障状态（在册/停发/终止）"),
                _STAMP,
            ),
        ),
        Table(
            "tekun",
            "特困人员救助供养对象",
            (
                *_PERSON,
                Column("support_mode", "VARCHAR(10)", "供养方式（分散供养/集中供养）"),
                Column("care_level", "VARCHAR(10)", "生活自理能力（全自理/半护理/全护理）"),
                _AMOUNT,
                Column("approval_date", "DATE", "批准日期"),
                Column("status", "VARCHAR(10)", "供养状态（在册/停发/终止）"),
                _STAMP,
            ),
        ),
        Table(
            "elderly_allowance",
            "高龄补贴（80周岁及以上老年人）",
            (
                *_PERSON,
                Column("age_band", "VARCHAR(12)", "年龄段"),
                _AMOUNT,
                Column("start_date", "DATE", "起始发放日期"),
                Column("status", "VARCHAR(10)", "发放状态（在册/停发）"),
                _STAMP,
            ),
        ),
        Table(
            "disability",
            "残疾人信息及两项补贴",
            (
                *_PERSON,
                Column("certificate_no", "VARCHAR(22)", "残疾人证号（身份证号+类别+等级）"),
                Column("disability_category", "VARCHAR(10)", "残疾类别"),
                Column("disability_grade", "INTEGER", "残疾等级（1-4级，1级最重）"),
                Column("subsidy", "VARCHAR(20)", "享受补贴（生活补贴/护理补贴）"),
                Column("issue_date", "DATE", "发证日期"),
                Column("status", "VARCHAR(10)", "补贴状态（在册/停发）"),
                _STAMP,
            ),
        ),
        Table(
            "deaths",
            "死亡登记（殡葬服务）",
            (
                *_PERSON,
                Column("death_date", "DATE", "死亡日期"),
                Column("death_place", "VARCHAR(10)", "死亡地点"),
                Column("registered_on", "DATE", "登记日期"),
                Column("status", "VARCHAR(10)", "状态"),
                _STAMP,
            ),
        ),
    )
}


def _sql_type(column: Column, backend: str) -> str:
    if column.name == "id":
        return "INTEGER PRIMARY KEY" if backend == "sqlite" else "BIGINT PRIMARY KEY"
    if column.type == "TIMESTAMP" and backend == "postgresql":
        return "TIMESTAMP(0) WITHOUT TIME ZONE"  # the legacy system stamps whole seconds
    return column.type


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ddl(backend: str) -> list[str]:
    """CREATE statements for ``sqlite`` or ``postgresql``, comments included."""
    statements: list[str] = []
    for table in TABLES.values():
        lines = [f"CREATE TABLE {table.name} (  -- {table.comment}"]
        last = len(table.columns) - 1
        for i, col in enumerate(table.columns):
            comma = "," if i < last else ""
            unique = " UNIQUE" if col.name == "case_no" else ""
            lines.append(
                f"    {col.name} {_sql_type(col, backend)}{unique}{comma}  -- {col.comment}"
            )
        lines.append(")")
        statements.append("\n".join(lines))
        statements.append(f"CREATE INDEX ix_{table.name}_updated ON {table.name} (updated_at, id)")
        if backend == "postgresql":
            statements.append(f"COMMENT ON TABLE {table.name} IS {_quote(table.comment)}")
            statements.extend(
                f"COMMENT ON COLUMN {table.name}.{c.name} IS {_quote(c.comment)}"
                for c in table.columns
            )
    statements.append(visit_record_ddl(backend))
    if backend == "sqlite":
        statements.append(
            f"CREATE TABLE {DICTIONARY_TABLE} (  -- 数据字典：列注释\n"
            "    table_name VARCHAR(40),  -- 表名\n"
            "    column_name VARCHAR(40),  -- 列名\n"
            "    comment VARCHAR(200)  -- 注释\n"
            ")"
        )
    return statements


VISIT_TABLE = "visit_record"


def visit_record_ddl(backend: str) -> str:
    """The table the hub writes visit outcomes into (上门走访记录). Not a synced stream: it
    is where the loop closes. The idempotency key makes a re-delivered visit a no-op."""
    key = "INTEGER PRIMARY KEY" if backend == "sqlite" else "SERIAL PRIMARY KEY"
    return (
        f"CREATE TABLE {VISIT_TABLE} (  -- 上门走访记录（网格员反馈）\n"
        f"    id {key},\n"
        "    idempotency_key VARCHAR(120) NOT NULL UNIQUE,  -- 幂等键\n"
        "    case_ref VARCHAR(80),  -- 业务编号/事项\n"
        "    task_ref VARCHAR(64),  -- 网格工单号\n"
        "    status VARCHAR(20),  -- 状态\n"
        "    result VARCHAR(400),  -- 走访结果\n"
        "    worker VARCHAR(80),  -- 网格员\n"
        "    visited_at VARCHAR(40)  -- 走访时间\n"
        ")"
    )


def dictionary_rows() -> list[tuple[str, str, str]]:
    """(table, column, comment) for the SQLite data dictionary; '' names the table."""
    rows: list[tuple[str, str, str]] = []
    for table in TABLES.values():
        rows.append((table.name, "", table.comment))
        rows.extend((table.name, c.name, c.comment) for c in table.columns)
    return rows
