"""Your data: everything a reader made, downloaded as one JSON file, and the account's
deletion. Both follow one declaration, store/schema.py's PERSONAL_DATA: a table that
holds a reader's data is listed there once, and both the download and the deletion take
it in (rows of tables that reference a listed table, such as a collection's items, go
with their parent).

Deletion removes every listed row (or detaches it where it is not the reader's alone, a
paper they put on a daily list); comments stay, shown as by "deleted user", unless the
reader asks to remove them: then a comment others replied to keeps its place with its
text removed, and the rest go.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from paperfeed.errors import ActionError, NotFound
from paperfeed.records import identity_key, utcnow
from paperfeed.services.accounts import authenticate
from paperfeed.store import insert_unless_present
from paperfeed.store.schema import (
    PERSONAL_DATA,
    PersonalTable,
    comments,
    metadata,
    papers,
    users,
)

FORMAT = "paperfeed-your-data"
FORMAT_VERSION = 1
# The account a deleted reader's kept comments are shown under. The name cannot be
# chosen at sign-up (usernames have no spaces), and the account cannot log in.
DELETED_USERNAME = "deleted user"
DELETED_ORIGIN = "deleted"
REMOVED_COMMENT = "[removed by its author]"


def _owned(table: sa.Table, spec: PersonalTable, user_id: int, email_key: str | None) -> Any:
    condition = table.c[spec.owner] == user_id
    if spec.email_key and email_key:
        condition = condition | (table.c[spec.email_key] == email_key)
    return condition


def _children(table: sa.Table) -> list[tuple[sa.Table, sa.Column, sa.Column]]:
    """(child table, its column, the parent column it references) for every other table
    that references `table` (collection_items -> collections)."""
    found = []
    for child in metadata.sorted_tables:
        if child is table or table.name == "users":
            continue
        for column in child.columns:
            for fk in column.foreign_keys:
                if fk.column.table is table:
                    found.append((child, column, fk.column))
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _rows_json(
    conn: sa.Connection, table: sa.Table, rows: list[sa.RowMapping], secret: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows as JSON objects; a reference to a paper is given as its arXiv id (`paper`)."""
    paper_columns = [
        c.name for c in table.columns if any(fk.column is papers.c.id for fk in c.foreign_keys)
    ]
    ids = {r[name] for r in rows for name in paper_columns if r[name] is not None}
    arxiv = dict(
        conn.execute(sa.select(papers.c.id, papers.c.arxiv_id).where(papers.c.id.in_(ids))).all()
    ) if ids else {}  # fmt: skip
    out = []
    for row in rows:
        item = {k: _jsonable(v) for k, v in row.items() if k not in secret}
        for name in paper_columns:
            item[name.removesuffix("_id")] = arxiv.get(row[name])
            del item[name]
        out.append(item)
    return out


def _user_row(conn: sa.Connection, user_id: int) -> sa.RowMapping:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
    if row is None:
        raise NotFound("no such account")
    return row


def your_data(conn: sa.Connection, user_id: int) -> dict[str, Any]:
    """Everything the reader made, table by table, as one JSON-ready object."""
    email_key = _user_row(conn, user_id)["email_key"]
    tables: dict[str, list[dict[str, Any]]] = {}
    for spec in PERSONAL_DATA:
        if not spec.download:
            continue
        table = metadata.tables[spec.table]
        rows = conn.execute(
            sa.select(table).where(_owned(table, spec, user_id, email_key))
        ).mappings().all()  # fmt: skip
        tables.setdefault(spec.table, []).extend(_rows_json(conn, table, list(rows), spec.secret))
        for child, column, parent in _children(table):
            keys = [r[parent.name] for r in rows]
            if not keys:
                continue
            child_rows = conn.execute(sa.select(child).where(column.in_(keys))).mappings().all()
            tables.setdefault(child.name, []).extend(_rows_json(conn, child, list(child_rows), ()))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": utcnow().isoformat(),
        "tables": tables,
    }


def _deleted_user(conn: sa.Connection) -> int:
    """The placeholder account kept comments are shown under, made on first need."""
    insert_unless_present(
        conn,
        users.insert().values(
            username=DELETED_USERNAME,
            username_key=identity_key(DELETED_USERNAME),
            origin=DELETED_ORIGIN,
            created_at=utcnow(),
        ),
    )
    return conn.execute(
        sa.select(users.c.id).where(users.c.username_key == identity_key(DELETED_USERNAME))
    ).scalar_one()


def _remove_comments(conn: sa.Connection, owned: Any, placeholder: int) -> None:
    """The reader's comments go; one that others replied to stays as a placeholder
    without its text, so that the replies keep their thread."""
    mine = set(conn.execute(sa.select(comments.c.id).where(owned)).scalars())
    conn.execute(
        comments.update()
        .where(comments.c.id.in_(mine))
        .values(body=REMOVED_COMMENT, user_id=placeholder)
    )
    while mine:  # leaves first: a reply of theirs to their own comment goes before it
        replied = set(
            conn.execute(
                sa.select(comments.c.parent_id).where(comments.c.parent_id.in_(mine))
            ).scalars()
        )
        leaves = mine - replied
        if not leaves:
            break
        conn.execute(comments.delete().where(comments.c.id.in_(leaves)))
        mine -= leaves


def delete_account(
    conn: sa.Connection, user_id: int, password: str, remove_comments: bool = False
) -> None:
    """Deletes the reader's account and personal data, once their password is confirmed."""
    row = _user_row(conn, user_id)
    if row["origin"] == DELETED_ORIGIN or authenticate(conn, row["username"], password) is None:
        raise ActionError("wrong password: the account was not deleted", 403)
    placeholder = _deleted_user(conn)
    for spec in PERSONAL_DATA:
        if spec.table == "users":
            continue
        table = metadata.tables[spec.table]
        owned = _owned(table, spec, user_id, row["email_key"])
        if spec.on_delete == "detach":
            conn.execute(table.update().where(owned).values({spec.owner: None}))
        elif spec.on_delete == "anonymize" and remove_comments:
            _remove_comments(conn, owned, placeholder)
        elif spec.on_delete == "anonymize":
            conn.execute(table.update().where(owned).values({spec.owner: placeholder}))
        else:
            conn.execute(table.delete().where(owned))
    conn.execute(users.delete().where(users.c.id == user_id))
