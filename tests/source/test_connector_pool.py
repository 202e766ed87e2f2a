"""The plugin's connectors: one thread at a time each, and not a new login for every new thread."""

from __future__ import annotations

import threading

from ls_storage.client.connection import ConnectionSettings, ConnectorPool

STATUS = [{"GetStatus": {}}]


def _settings(address) -> ConnectionSettings:
    return ConnectionSettings(address.host, address.port, address.username, address.password, address.token,
                              address.use_ssl, open(address.ca_cert).read() if address.ca_cert else "",
                              address.verify_hostname, address.use_rest)


def _in_thread(function) -> None:
    thread = threading.Thread(target=function)
    thread.start()
    thread.join()


def test_a_new_thread_takes_over_the_connector_of_a_thread_that_ended(aperturedb_test_server):
    """Django's runserver starts a thread per HTTP connection: each would otherwise log in before serving an image."""
    pool, settings, used = ConnectorPool(), _settings(aperturedb_test_server), []

    def query() -> None:
        connector = pool.get(settings)
        answer, _ = connector.query(STATUS)
        assert answer[0]["GetStatus"]["status"] == 0, answer
        used.append(connector)

    _in_thread(query)
    _in_thread(query)
    assert used[1] is used[0]


def test_threads_alive_at_the_same_time_never_share_a_connector(aperturedb_test_server):
    pool, settings = ConnectorPool(), _settings(aperturedb_test_server)
    holding, release, held, other = threading.Event(), threading.Event(), [], []

    def hold() -> None:
        held.append(pool.get(settings))
        holding.set()
        release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    _in_thread(lambda: other.append(pool.get(settings)))
    release.set()
    holder.join()
    assert other[0] is not held[0]
    assert pool.get(settings) in (held[0], other[0])  # both ended threads' connectors are kept for the next


def test_a_discarded_connector_is_not_handed_on(aperturedb_test_server):
    pool, settings, used = ConnectorPool(), _settings(aperturedb_test_server), []

    def use_and_discard() -> None:
        used.append(pool.get(settings))
        pool.discard(settings)

    _in_thread(use_and_discard)
    _in_thread(lambda: used.append(pool.get(settings)))
    assert used[1] is not used[0]
