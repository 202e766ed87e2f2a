"""Inserting many rows at once, as fast as each database allows: ``COPY`` on PostgreSQL, multi-row
``INSERT`` elsewhere.

On PostgreSQL Django's psycopg cursor binds parameters on the client: every value of a ``bulk_create``
or of a multi-row insert is quoted into the SQL text in Python, and the server parses it all again. A
``COPY`` sends the rows as data instead.
"""

from __future__ import annotations

from typing import Sequence

from django.db import connections, router

INSERT_ROWS = 500  # rows per INSERT statement outside PostgreSQL: far below every database's parameter limit


def insert_rows(model, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert plain rows (values as the database takes them) into the table of ``model``."""
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    table, names = quote(model._meta.db_table), ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), INSERT_ROWS):
            chunk = rows[start:start + INSERT_ROWS]
            cursor.execute(f"INSERT INTO {table} ({names}) VALUES {', '.join([placeholders] * len(chunk))}",
                           [value for row in chunk for value in row])


def insert_objects(model, objects: list) -> list:
    """``bulk_create`` that, on PostgreSQL, takes the primary keys from the table's sequence first and then
    copies the rows; like ``bulk_create``, no signals are sent and the objects get their primary keys."""
    # The connection itself, not Django's proxy of it: the proxy costs a thread-local look-up per value.
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql" or not objects:
        return model.objects.bulk_create(objects)
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [meta.db_table, meta.pk.column, len(objects)])
        for obj, (pk,) in zip(objects, cursor.fetchall()):
            obj.pk = pk
    fields = meta.concrete_fields
    rows = [tuple(field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields)
            for obj in objects]
    insert_rows(model, [field.column for field in fields], rows)
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias
    return objects
