"""The catalogue of hostile storage payloads, and how one is tried and judged.

Each :class:`Case` is one request to one of the storages' endpoints — create, Check Connection (``/validate``), or a
PATCH of an existing storage — with a valid body but for one field (or a body that is not an object at all). Its
:class:`Outcome` says whether it was refused as it must be: a 400 naming the field (or saying what is wrong with the
body), never a 500, nothing saved (no new storage, the stored row unchanged), an answer that does not echo a huge
input back, and Label Studio still answering a normal request afterwards.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

from django.forms.models import model_to_dict

from ls_storage.aperturedb.models import ApertureDBExportStorage, ApertureDBImportStorage

URLS = {"source": "/api/storages/aperturedb", "target": "/api/storages/export/aperturedb"}
MODELS = {"source": ApertureDBImportStorage, "target": ApertureDBExportStorage}
ENDPOINTS = ("create", "validate", "patch")
MAX_ANSWER = 64 * 1024  # an answer to a refused input is a few messages, never the input echoed back

OUTCOMES: dict[str, dict] = {}  # every catalogue input tried in this run, by name
GENERATED: dict[str, dict] = {}  # hypothesis's examples by property: {"examples": n, "status_500": n, ...}

TEN_MB = "x" * (10 * 1024 * 1024)
DEEP = 10_000  # levels of nesting

# Characters no setting may hold: a NUL, a right-to-left override, a zero-width space, a lone surrogate (as JSON
# escapes it), a line break in a one-line setting.
ODD_TEXT = {
    "NUL": "ab\x00cd",
    "right-to-left override": "ab\u202ecd",
    "zero-width space": "ab\u200bcd",
    "lone surrogate": "ab\ud800cd",
}
WRONG_TYPES_FOR_TEXT = {"a list": ["a"], "an object": {"a": 1}, "a boolean": True}
WRONG_BOOLEANS = {"a word": "maybe", "the number 2": 2, "a list": [True], "an object": {"a": 1}, "empty": "",
                  "NUL": "true\x00"}
WRONG_INTEGERS = {"text": "abc", "a fraction": 1.5, "a list": [1], "an object": {"a": 1}, "a boolean": True,
                  "NUL": "1\x00"}

ONE_LINE = ("hostname", "username", "title")
SECRETS = ("password", "token", "connection_key")
COMMON_BOOLEANS = ("use_ssl", "verify_hostname", "use_rest", "synchronizable")
SERVER_MANAGED = {  # written by Label Studio's syncs, never by a client
    "status": "completed", "meta": {"tasks_existed": 1}, "traceback": "Traceback: forged", "last_sync": "2020-01-01T00:00:00Z",
    "last_sync_count": 5, "last_sync_job": "forged-job",
}
SOURCE_JSON = ("constraints", "pred_constraints", "connected_to", "property_defaults")
SOURCE_ONE_LINE = ("annotations_label_version", "version_property", "score_property")
SOURCE_BOOLEANS = ("predictions", "allow_unknown_properties", "remove_missing_tasks", "import_annotations",
                   "recheck_images")
TARGET_BOOLEANS = ("full_export",)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "source" or "target"
    endpoint: str  # "create", "validate" or "patch"
    body: bytes
    fields: tuple[str, ...]  # the answer must name one of these; () for a body that is not a storage's object
    content_type: str = "application/json"


@dataclass
class Outcome:
    name: str
    group: str
    status: int
    named: bool  # a 400 naming the field, or saying what is wrong with the body
    saved: bool
    echoed: bool  # the answer is over MAX_ANSWER bytes
    healthy: bool  # a normal request right after it succeeded
    detail: str = field(default="", repr=False)

    @property
    def refused_as_it_must(self) -> bool:
        return self.status == 400 and self.named and not self.saved and not self.echoed and self.healthy

    def as_dict(self) -> dict:
        return asdict(self)


def raw(body: dict, **raw_fields: str) -> bytes:
    """``body`` as JSON with fields whose values are given as JSON text (nesting no encoder would write)."""
    text = json.dumps(body)
    for name, value in raw_fields.items():
        text = text[:-1] + (", " if len(text) > 2 else "") + f"{json.dumps(name)}: {value}" + "}"
    return text.encode()


def nested(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


def nested_object(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@dataclass
class World:
    """Where the cases run: the user's client, the project, a stored storage of each kind and the bodies that
    create a valid one."""

    client: object
    project_id: int
    other_organization_project_id: int
    stored: dict[str, int]
    valid: dict[str, dict]

    def url(self, kind: str, endpoint: str) -> str:
        return {"create": URLS[kind], "validate": URLS[kind] + "/validate",
                "patch": f"{URLS[kind]}/{self.stored[kind]}"}[endpoint]

    def snapshot(self) -> tuple:
        return tuple((kind, model.objects.count(),
                      _row(model.objects.get(id=self.stored[kind]))) for kind, model in MODELS.items())


def _row(storage) -> dict:
    return {name: value for name, value in model_to_dict(storage).items()}


def values_for(name: str, kind: str, world: World) -> dict[str, object | tuple[str, str]]:
    """Hostile values of one field: ``{label: value}``, or ``{label: ("raw", JSON text)}`` for a value given as
    raw JSON."""
    huge = {"10 MB": TEN_MB}
    if name in ONE_LINE or name in SECRETS or name in SOURCE_ONE_LINE or name == "label_version":
        values = {**WRONG_TYPES_FOR_TEXT, **huge, **ODD_TEXT}
        if name not in SECRETS:
            values["a line break"] = "ab\ncd"
        if name in ("version_property", "score_property"):
            values["a system property name"] = "_uniqueid"
        if name == "hostname":
            values.update({
                "empty": "", "a scheme": "https://aperturedb.example.com", "a path": "aperturedb.example.com/admin",
                "a path segment up": "aperturedb.example.com/../etc", "user info": "admin:pw@aperturedb.example.com",
                "a port": "aperturedb.example.com:55555", "a space": "aperturedb example.com",
                "5 MB": "a" * (5 * 1024 * 1024), "a label over 63 characters": "a" * 64 + ".example.com",
                "a backslash": "aperturedb.example.com\\x",
            })
        if name == "connection_key":
            values["not a key"] = "not-a-connection-key"
        return values
    if name == "description":
        return {**WRONG_TYPES_FOR_TEXT, **huge, **ODD_TEXT}
    if name == "ca_cert":
        return {**WRONG_TYPES_FOR_TEXT, **ODD_TEXT, "not PEM": "not a certificate",
                "PEM markers around garbage": "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----",
                "10 MB of PEM-looking text": "-----BEGIN CERTIFICATE-----\n" + "QUFB" * (10 * 256 * 1024)
                                            + "\n-----END CERTIFICATE-----"}
    if name == "port":
        return {"0": 0, "-1": -1, "65536": 65536, "huge": 10 ** 30, "a huge string of digits": "9" * 5000,
                **WRONG_INTEGERS}
    if name in ("limit", "sync_interval", "export_interval"):
        return {"-1": -1, "huge": 10 ** 30, **WRONG_INTEGERS}
    if name in COMMON_BOOLEANS or name in SOURCE_BOOLEANS or name in TARGET_BOOLEANS:
        return dict(WRONG_BOOLEANS)
    if name == "can_delete_objects":  # may be null
        return {label: value for label, value in WRONG_BOOLEANS.items() if label != "empty"}
    if name == "project":
        return {"text": "abc", "-1": -1, "huge": 10 ** 30, "a project that does not exist": 10 ** 9,
                "a list": [world.project_id], "an object": {"id": world.project_id}, "null": None}
    if name in SERVER_MANAGED:
        return {"a plausible value": SERVER_MANAGED[name], "10 MB": TEN_MB,
                "nested 10,000 levels": ("raw", nested(DEEP))}
    json_values = {"nested 10,000 levels": ("raw", nested(DEEP)),
                   "objects nested 10,000 levels": ("raw", nested_object(DEEP)),
                   "nested 10,000 levels, as JSON text": nested(DEEP),
                   "10 MB": {"name": ["==", TEN_MB]},
                   "NUL in a property name": {"na\x00me": ["==", "x"]},
                   "right-to-left override in a property name": {"na\u202eme": ["==", "x"]},
                   "lone surrogate in a value": {"name": ["==", "x\ud800"]},
                   "a number": 3, "a boolean": True}
    if name in ("constraints", "pred_constraints"):
        return {**json_values, "an unknown operator": {"name": ["~=", "x"]}, "invalid JSON text": "{name: 1"}
    if name == "connected_to":
        return {**json_values, "an unknown direction": {"class": "Dataset", "direction": "sideways"}, "a list of numbers": [1, 2]}
    if name == "property_defaults":
        return {**{k: v for k, v in json_values.items() if k not in ("10 MB", "NUL in a property name",
                                                                       "right-to-left override in a property name",
                                                                       "lone surrogate in a value")},
                "10 MB": {"name": TEN_MB}, "NUL in a property name": {"na\x00me": "x"},
                "right-to-left override in a property name": {"na\u202eme": "x"},
                "lone surrogate in a value": {"name": "x\ud800"},
                "a system property name": {"_uniqueid": "x"}, "a nested default": {"name": {"a": 1}}}
    if name == "properties":
        return {"nested 10,000 levels": ("raw", nested(DEEP)), "10 MB": [TEN_MB], "a system property name": ["_uniqueid"],
                "a system property name in text": "name, _uniqueid", "NUL in a name": ["na\x00me"],
                "right-to-left override in a name": ["na\u202eme"], "lone surrogate in a name": ["na\ud800me"],
                "zero-width space in a name": ["na\u200bme"], "numbers": [1, 2], "an object": {"a": 1},
                "a boolean": True}
    if name == "image_properties":
        return {"nested 10,000 levels": ("raw", nested_object(DEEP)), "10 MB": {"split": TEN_MB},
                "a system property name": {"split": "_uniqueid"}, "NUL in a property name": {"split": "sp\x00lit"},
                "right-to-left override in a property name": {"split": "sp\u202elit"},
                "lone surrogate in a control name": {"sp\ud800": "split"}, "a list": ["split"], "a number": 3,
                "an unknown control": {"no_such_control": "split"}}
    if name.endswith("_text"):  # the form's JSON text twin of a JSON setting
        return {"nested 10,000 levels": nested(DEEP), "objects nested 10,000 levels": nested_object(DEEP),
                "10 MB": json.dumps({"name": TEN_MB}), "NUL": '{"na\x00me": "x"}', "invalid JSON": "{name: 1",
                "a list": ["a"], "an object": {"a": 1}}
    raise KeyError(name)


def fields_of(kind: str) -> tuple[str, ...]:
    common = ONE_LINE + SECRETS + ("description", "ca_cert", "port", "project") + COMMON_BOOLEANS + \
        tuple(SERVER_MANAGED)
    if kind == "source":
        return common + SOURCE_JSON + tuple(f"{name}_text" for name in SOURCE_JSON) + ("properties", "limit") + \
            SOURCE_ONE_LINE + SOURCE_BOOLEANS + ("sync_interval",)
    return common + ("label_version", "image_properties", "image_properties_text", "can_delete_objects",
                     "export_interval") + TARGET_BOOLEANS


def named_fields(name: str) -> tuple[str, ...]:
    """The fields an answer about ``name`` may name: a JSON setting's text twin is reported as the setting."""
    return (name, name.removesuffix("_text")) if name.endswith("_text") else (name,)


def field_cases(world: World, kind: str, endpoint: str) -> list[Case]:
    cases = []
    for name in fields_of(kind):
        if endpoint == "patch" and name == "project":
            values = {**values_for(name, kind, world), "another project": world.other_organization_project_id}
        else:
            values = values_for(name, kind, world)
        for label, value in values.items():
            base = {} if endpoint == "patch" else {k: v for k, v in world.valid[kind].items() if k != name}
            if isinstance(value, tuple) and value[0] == "raw":
                body = raw(base, **{name: value[1]})
            else:
                body = json.dumps({**base, name: value}).encode()
            cases.append(Case(f"{kind} {endpoint}: {name} {label}", kind, endpoint, body, named_fields(name)))
    return cases


def body_cases(world: World) -> list[Case]:
    """Bodies that are not a storage's object, and unknown fields, on every endpoint of both storages."""
    bodies = {
        "a list": b"[]", "a list holding the settings": json.dumps([world.valid["source"]]).encode(),
        "a string": b'"aperturedb"', "a number": b"3", "null": b"null", "true": b"true",
        "invalid JSON": b'{"hostname": ', "trailing data": b'{"title": "a"} {"title": "b"}',
        "empty": b"", "NaN": b'{"port": NaN}', "a byte-order mark": "\ufeff{}".encode(),
        "not UTF-8": b'{"title": "\xff\xfe"}', "a lone surrogate in raw bytes": b'{"title": "ab\xed\xa0\x80cd"}',
        "nested 10,000 levels": nested(DEEP).encode(), "objects nested 10,000 levels": nested_object(DEEP).encode(),
    }
    unknown = {"a misspelt field": {"hostnme": "aperturedb.example.com"}, "a model field the API hides": {"sync_run": 99},
               "state the sync keeps": {"sync_state": {"mark": 1}}, "a user's flag": {"is_superuser": True},
               "NUL in a field name": {"title\x00": "a"}, "a dunder": {"__class__": "x"}}
    cases = []
    for kind in URLS:
        for endpoint in ENDPOINTS:
            for label, body in bodies.items():
                if endpoint == "patch" and label == "empty":
                    continue  # a PATCH that changes nothing
                cases.append(Case(f"{kind} {endpoint}: body {label}", kind, endpoint, body, ()))
            for label, extra in unknown.items():
                base = {} if endpoint == "patch" else world.valid[kind]
                cases.append(Case(f"{kind} {endpoint}: unknown field, {label}", kind, endpoint,
                                  json.dumps({**base, **extra}).encode(), tuple(extra)))
    form = {"port": "abc", "hostname": "a.example.com/x", "use_ssl": "maybe", "hostnme": "x", "title": "a\x00b"}
    for kind in URLS:
        for name, value in form.items():
            base = {k: v for k, v in world.valid[kind].items() if k != name and not isinstance(v, (dict, list))}
            base[name] = value
            cases.append(Case(f"{kind} create: form-encoded {name}", kind, "create", urlencode(base).encode(),
                              (name,), "application/x-www-form-urlencoded"))
    return cases


def groups(world: World) -> dict[str, list[Case]]:
    found = {f"{kind} {endpoint}": field_cases(world, kind, endpoint) for kind in URLS for endpoint in ENDPOINTS}
    found["bodies and unknown fields"] = body_cases(world)
    return found


def send(world: World, case: Case):
    method = "patch" if case.endpoint == "patch" else "post"
    return getattr(world.client, method)(world.url(case.kind, case.endpoint), data=case.body,
                                         content_type=case.content_type)


def names(response, fields: tuple[str, ...]) -> bool:
    """Whether a 400's answer names one of ``fields``, or for a body (no fields) says what is wrong with it."""
    try:
        answer = response.json()
    except ValueError:
        return False
    errors = answer.get("validation_errors")
    if not fields:
        return bool(errors or answer.get("detail"))
    return isinstance(errors, dict) and any(name in errors for name in fields)


def probe(world: World, case: Case, group: str) -> Outcome:
    world.client.raise_request_exception = False  # a crash in a view is the 500 a user would get
    before = world.snapshot()
    response = send(world, case)
    content = response.content
    saved = world.snapshot() != before
    healthy = world.client.get(f"{URLS['source']}/?project={world.project_id}").status_code == 200
    return Outcome(case.name, group, response.status_code, response.status_code == 400 and names(response, case.fields),
                   saved, len(content) > MAX_ANSWER, healthy, content[:300].decode("utf-8", "replace"))


def run_group(world: World, group: str) -> list[Outcome]:
    """Try every input of a group of the catalogue, and record the outcomes for the suite's figures."""
    outcomes = [probe(world, case, group) for case in groups(world)[group]]
    for outcome in outcomes:
        OUTCOMES[outcome.name] = outcome.as_dict()
    return outcomes


def record_generated(prop: str, status: int, refused_as_it_must: bool) -> None:
    counts = GENERATED.setdefault(prop, {"examples": 0, "status_500": 0, "not_refused": 0})
    counts["examples"] += 1
    counts["status_500"] += status >= 500
    counts["not_refused"] += not refused_as_it_must


def figures() -> dict:
    outcomes = list(OUTCOMES.values())
    by_group: dict[str, dict] = {}
    for outcome in outcomes:
        group = by_group.setdefault(outcome["group"], {"inputs": 0, "status_500": 0, "saved": 0, "refused_as_it_must": 0})
        group["inputs"] += 1
        group["status_500"] += outcome["status"] >= 500
        group["saved"] += outcome["saved"]
        group["refused_as_it_must"] += _refused(outcome)
    return {
        "inputs": len(outcomes),
        "status_400_naming_the_field": sum(_refused(o) for o in outcomes),
        "status_500": sum(o["status"] >= 500 for o in outcomes),
        "saved": sum(o["saved"] for o in outcomes),
        "other_statuses": sorted({o["status"] for o in outcomes} - {400}),
        "not_named": sum(o["status"] == 400 and not o["named"] for o in outcomes),
        "echoed": sum(o["echoed"] for o in outcomes),
        "unhealthy_after": sum(not o["healthy"] for o in outcomes),
        "by_group": by_group,
        "generated": GENERATED,
        "failures": [o for o in outcomes if not _refused(o)][:50],
    }


def _refused(outcome: dict) -> bool:
    return Outcome(**outcome).refused_as_it_must
