"""Hostile storage payloads through Label Studio's REST API (issue #21, item 3): every field of both storages, on
create, Check Connection and PATCH, with wrong types, huge, deeply nested, NUL bytes and odd Unicode, out-of-range
numbers, bad host names and CA certificates, system property names; bodies that are not an object; unknown fields.
Each must be a 400 naming the field (or saying what is wrong with the body), never a 500, save nothing, and leave
Label Studio answering. See ``hostile_inputs`` for the catalogue and the judgement."""

from __future__ import annotations

import pytest
from hostile_inputs import ENDPOINTS, URLS, fields_of, run_group
from ls_storage.aperturedb.serializers import ApertureDBExportStorageSerializer, ApertureDBImportStorageSerializer

pytestmark = pytest.mark.django_db

GROUPS = [f"{kind} {endpoint}" for kind in URLS for endpoint in ENDPOINTS] + ["bodies and unknown fields"]


def failures(outcomes) -> list[str]:
    return [f"{o.name}: {o.status}{'' if o.named else ' not naming the field'}{' SAVED' if o.saved else ''}"
            f"{' ECHOED' if o.echoed else ''}{'' if o.healthy else ' UNHEALTHY'} {o.detail[:160]!r}"
            for o in outcomes if not o.refused_as_it_must]


@pytest.mark.parametrize("group", GROUPS)
def test_every_hostile_input_is_a_400_naming_the_field_and_saves_nothing(world, group):
    outcomes = run_group(world, group)

    assert outcomes
    assert not failures(outcomes), "\n".join(failures(outcomes))
    # Still healthy: a valid storage is checked and created.
    for kind, url in URLS.items():
        assert world.client.post(url + "/validate", data=world.valid[kind], content_type="application/json") \
            .status_code == 200
        assert world.client.post(url, data=world.valid[kind], content_type="application/json").status_code == 201


@pytest.mark.parametrize("kind, serializer", [("source", ApertureDBImportStorageSerializer),
                                              ("target", ApertureDBExportStorageSerializer)])
def test_the_catalogue_covers_every_field_a_client_may_send(kind, serializer):
    sent = {name for name, field in serializer().fields.items() if not field.read_only}
    assert sent - set(fields_of(kind)) == set()
