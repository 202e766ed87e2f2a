"""Reading the next page of ApertureDB images while the current one is written."""

import threading

import pytest

from ls_storage.client.connection import ApertureDBError
from ls_storage.client.source import read_ahead


def test_pages_come_in_order_and_at_most_one_is_read_ahead():
    produced = []

    def pages():
        for number in range(1, 6):
            produced.append(number)
            yield number

    taken = []
    for page in read_ahead(pages()):
        taken.append(page)
        assert len(produced) <= page + 1
    assert taken == [1, 2, 3, 4, 5] and produced == taken


def test_the_next_page_is_read_while_the_caller_works_on_this_one():
    second_requested = threading.Event()

    def pages():
        yield 1
        second_requested.set()
        yield 2

    pages_read = read_ahead(pages())
    assert next(pages_read) == 1
    assert second_requested.wait(timeout=10)  # without the caller asking for it
    assert list(pages_read) == [2]


def test_an_error_reading_a_page_is_raised_where_the_caller_takes_that_page():
    def pages():
        yield 1
        yield 2
        raise ApertureDBError("connection lost")

    taken = []
    with pytest.raises(ApertureDBError, match="connection lost"):
        for page in read_ahead(pages()):
            taken.append(page)
    assert taken == [1, 2]


def test_closing_early_closes_the_pages_and_ends_the_reading_thread():
    closed = threading.Event()

    def pages():
        try:
            yield from range(1, 100)
        finally:
            closed.set()

    pages_read = read_ahead(pages())
    assert next(pages_read) == 1
    pages_read.close()
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name.startswith("aperturedb-read-ahead")]
