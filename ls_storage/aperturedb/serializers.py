"""REST serializers of the ApertureDB storages: secrets write-only, every setting checked before saving."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping

from io_storages.serializers import ExportStorageSerializer, ImportStorageSerializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from ls_storage.client.connection import (
    KEY_FIELDS,
    ApertureDBError,
    ConnectionSettings,
    default_port,
    settings_from_key,
)
from ls_storage.client.constraints import ConstraintsError, parse_connected_to, parse_constraints
from ls_storage.client.target import IMAGE_PROPERTY_TYPES
from ls_storage.conversion.predictions import MODEL_VERSION, SCORE

from .models import (
    LABEL_VERSION_LENGTH,
    PROPERTY_NAME_LENGTH,
    ApertureDBExportStorage,
    ApertureDBImportStorage,
    as_validation_error,
)
from .scheduling import ScheduleSerializerMixin, interval_serializer_field

STORAGE_TYPE = os.path.basename(os.path.dirname(__file__))  # "aperturedb": the UI builds URLs from it
SECRET_FIELDS = ("password", "token")

# Hostile input (issue #21, item 3): what any field may hold, checked before any field's own validation.
MAX_JSON_DEPTH = 32  # levels of a JSON setting (constraints nest a few); Python's parser gives up near 1,000
MAX_JSON_SETTING = 100_000  # characters of a JSON setting, or of any JSON value given to a field
MAX_TEXT = 10_000  # characters of a text field TEXT_LIMITS does not name
TEXT_LIMITS = {"hostname": 253, "username": 256, "password": 1024, "token": 4096, "connection_key": 65_536,
               "ca_cert": 1_048_576, "title": 2048}
MULTI_LINE = ("ca_cert", "description")  # may hold line breaks and tabs, as JSON text may
JOINERS = ("\u200c", "\u200d")  # the only format characters allowed: some scripts and emoji need them
MAX_ID = 2 ** 31 - 1  # the largest number an id, port, limit or count field may hold
# Written by Label Studio as the storage syncs; the stock serializers let a client write them (a forged status,
# or a meta that is not an object, which broke the storage list).
SERVER_MANAGED = ("status", "meta", "traceback", "last_sync", "last_sync_count", "last_sync_job")
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:]')


def nesting_beyond(text: str, limit: int) -> tuple[bool, str | None]:
    """Whether JSON ``text`` nests arrays and objects deeper than ``limit`` levels, and the key of the top-level
    object under which it first does (None when the text is not an object, or nests too deeply before a key).
    Reads tokens only, so that a parser never recurses into what it would refuse."""
    depth, key, last_string = 0, None, None
    for token in _JSON_TOKENS.finditer(text):
        mark = token.group()
        if mark[0] == '"':
            last_string = mark
        elif mark in "[{":
            depth += 1
            if depth > limit:
                return True, key
        elif mark in "]}":
            depth -= 1
        elif depth == 1 and last_string is not None:  # ":" after a key of the top-level object
            try:
                key = json.loads(last_string)
            except ValueError:
                key = None
    return False, None


def shown_name(name: str) -> str:
    """A field name as an answer may show it: encodable, and short."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")[:100]


def odd_character(text: str, multi_line: bool = False) -> str | None:
    """The first control, format (a bidirectional override, a zero-width space...) or surrogate character of
    ``text``, as U+XXXX; None when it has none. Line breaks and tabs are allowed in multi-line text."""
    if text.isprintable() or multi_line and text.replace("\n", "").replace("\r", "").replace("\t", "").isprintable():
        return None
    for character in text:
        if multi_line and character in "\n\r\t" or character in JOINERS:
            continue
        if unicodedata.category(character) in ("Cc", "Cf", "Cs"):
            return f"U+{ord(character):04X}"
    return None


def _odd_message(character: str) -> str:
    return (f"holds {character}: no control characters, format characters (bidirectional controls, zero-width "
            "spaces) or surrogates allowed")


def _json_value_problem(value) -> str | None:
    """What is wrong with a JSON value given to a field: nested too deeply, too large, or holding a control,
    format or surrogate character in a key or string. Walks without recursion."""
    pending, size = [(value, 1)], 0
    while pending:
        item, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            size += len(item)
            if character := odd_character(item):
                return _odd_message(character)
        else:
            size += 8
        if size > MAX_JSON_SETTING:
            return f"at most {MAX_JSON_SETTING} characters of JSON"
    return None


def stored_storage_id(value) -> int | None:
    """A stored storage's id as a request may give it (a number, or its digits); None for anything else."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    return int(text) if re.fullmatch(r"[0-9]{1,10}", text) and 0 < int(text) <= MAX_ID else None


class ApertureDBStorageSerializerMixin(serializers.Serializer):
    """The connection fields of both storages.

    - ``connection_key``: the key ApertureDB hands out. It fills every connection field (host, port, TLS, REST,
      CA, host name check, user and password or token), winning over the same fields in the request; the storage
      keeps those fields, not the key, and the answer shows them, secrets aside. A key that cannot be read is a
      400 naming ``connection_key``; a connection the key's settings cannot make names the field at fault and
      ``connection_key`` too.
    - ``port``: absent or null means the transport's default (55555 over TCP, 443 for REST over TLS, 80 for REST
      over plain HTTP). On an update that leaves it out, a stored port that was its transport's default follows
      a change of transport; any other stored port stays.
    - ``<setting>_text`` for each of ``JSON_SETTINGS``: the setting as JSON text, read and written by the Cloud
      Storage form. The form shows every field in a text input, where an object would read "[object Object]" and
      be sent back so on save; the API's own fields keep their objects and lists. Given both, the object wins.
    """

    JSON_SETTINGS: tuple[str, ...] = ()

    type = serializers.ReadOnlyField(default=STORAGE_TYPE)
    hostname = serializers.CharField(required=False, allow_blank=True)  # or from connection_key
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True)
    token = serializers.CharField(write_only=True, required=False, allow_blank=True)
    connection_key = serializers.CharField(write_only=True, required=False, allow_blank=True)

    def to_representation(self, instance):
        result = super().to_representation(instance)
        for name in SECRET_FIELDS:
            result.pop(name, None)
        for name in self.JSON_SETTINGS:
            value = result.get(name)
            result[f"{name}_text"] = json.dumps(value, ensure_ascii=False) if value not in (None, {}, []) else ""
        return result

    def get_fields(self):
        fields = super().get_fields()
        for name in SERVER_MANAGED:
            if name in fields:
                fields[name].read_only = True
        return fields

    def to_internal_value(self, data):
        self._refuse_hostile(data)
        validated = super().to_internal_value(data)
        for name in self.JSON_SETTINGS:
            text = validated.pop(f"{name}_text", None)
            if text is not None and name not in validated:
                try:
                    validated[name] = getattr(self, f"validate_{name}")(text)
                except ValidationError as error:
                    raise ValidationError({name: error.detail}) from None
        return validated

    def _refuse_hostile(self, data) -> None:
        """Unknown fields, fields Label Studio keeps for itself, and values no field may hold (see
        :meth:`_value_problem`): a 400 naming each, before any field reads its value. Read-only fields a client
        sends back (``id``, ``type``, ``created_at``...) are ignored, as DRF does."""
        if not isinstance(data, Mapping):
            return  # DRF answers that the body must be an object
        errors = {}
        for name in data.keys():
            field = self.fields.get(name)
            if field is None:
                errors[shown_name(name)] = [f"{shown_name(name)}: unknown field, not a setting of this storage"]
            elif name in SERVER_MANAGED:
                errors[name] = [f"{name}: kept by Label Studio as the storage syncs; it cannot be written"]
            elif not field.read_only and (problem := self._value_problem(name, data[name], field)):
                errors[name] = [f"{name}: {problem}"]
        if errors:
            raise ValidationError(errors)

    def _value_problem(self, name: str, value, field) -> str | None:
        """What no field may hold: text over its limit (``TEXT_LIMITS``, else ``MAX_TEXT``; a JSON setting's
        ``MAX_JSON_SETTING``), text with a control, format or surrogate character (line breaks allowed in
        ``MULTI_LINE`` fields and JSON text), JSON nested deeper than ``MAX_JSON_DEPTH`` or larger than
        ``MAX_JSON_SETTING``, a number beyond ``MAX_ID``; a CA certificate that is not ASCII. Spaces a text field
        trims are not looked at."""
        json_setting = name in self.JSON_SETTINGS or name == "properties" or name.endswith("_text")
        if isinstance(value, str) and getattr(field, "trim_whitespace", False):
            value = value.strip()
        if isinstance(value, str):
            limit = MAX_JSON_SETTING if json_setting else TEXT_LIMITS.get(name, MAX_TEXT)
            if len(value) > limit:
                return f"at most {limit} characters"
            if character := odd_character(value, multi_line=json_setting or name in MULTI_LINE):
                return _odd_message(character)
            if json_setting and nesting_beyond(value, MAX_JSON_DEPTH)[0]:
                return f"nested deeper than {MAX_JSON_DEPTH} levels"
            if name == "ca_cert" and not value.isascii():
                return "PEM text is ASCII (-----BEGIN CERTIFICATE----- ...)"
        elif isinstance(value, (dict, list)):
            return _json_value_problem(value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ID:
            return f"at most {MAX_ID}"
        return None

    def validate_project(self, project):
        if self.instance is not None and project != self.instance.project:
            raise ValidationError("project: a storage stays in the project it was made for")
        return project

    def validate(self, data):
        data = super().validate(data)
        from_key = None
        if key := data.pop("connection_key", ""):
            try:
                from_key = settings_from_key(key)
            except ApertureDBError as error:
                raise as_validation_error(error) from None
        storage = self._storage_with(data, from_key)
        try:
            storage.validate_settings()
        except ValidationError as error:
            if from_key is not None and isinstance(error.detail, dict):  # the key set the field at fault
                messages = [message for name in KEY_FIELDS for message in error.detail.get(name, [])]
                if messages:
                    error.detail["connection_key"] = messages
            raise
        return data

    def _storage_with(self, data, from_key: ConnectionSettings | None = None):
        """The storage as it would be saved: stored values (secrets included) overlaid with the request's, then
        with the connection key's. Completes ``data`` with the secrets, the key's fields and the port."""
        stored = self.instance
        if stored is None and self.context.get("view") is None and isinstance(getattr(self, "initial_data", None),
                                                                               Mapping):
            # Label Studio's own storage functions (the files preview) name a stored storage by id, with no view in
            # the context; a create never takes another storage's settings.
            storage_id = stored_storage_id(self.initial_data.get("id"))
            stored = self.Meta.model.objects.filter(id=storage_id).first() if storage_id else None
        values = {}
        if stored is not None:
            values = {f.name: getattr(stored, f.name) for f in self.Meta.model._meta.concrete_fields
                      if f.name not in ("id",) and not f.is_relation}
            values["project"] = stored.project
        for key, value in data.items():
            if key in SECRET_FIELDS and not value and values.get(key):
                continue  # an empty secret field in a form means "keep the stored one"
            values[key] = value
        if stored is not None and values.get("hostname") != stored.hostname:
            # A stored secret goes only to the host it was given for: another host (someone's who may edit the
            # storage but not read its password) needs it given again.
            for key in SECRET_FIELDS:
                if not data.get(key):
                    values[key] = ""
        if from_key is not None:
            data.update({name: getattr(from_key, name) for name in KEY_FIELDS})
            values.update(data)
        for key in SECRET_FIELDS:
            data[key] = values.get(key) or ""
        storage = self.Meta.model(**{k: v for k, v in values.items() if k in self._model_fields()})
        if data.get("port") is None:
            if stored is None or stored.port == default_port(stored.use_rest, stored.use_ssl):
                storage.port = default_port(storage.use_rest, storage.use_ssl)
            data["port"] = storage.port
        return storage

    def _model_fields(self):
        return {f.name for f in self.Meta.model._meta.concrete_fields} | {"project"}


def _constraints_field(value, field_name):
    try:
        return parse_constraints(value)
    except ConstraintsError as error:
        raise ValidationError(f"{field_name}: {error}") from None


def _form_text():
    """A JSON setting as the Cloud Storage form's text input holds it (see ``JSON_SETTINGS``)."""
    return serializers.CharField(required=False, allow_blank=True, allow_null=True, write_only=True,
                                 trim_whitespace=False)


def _text_setting(max_length: int, **options):
    """An optional one-line text setting: null is empty, at most ``max_length`` characters, spaces around trimmed."""
    return serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=max_length, **options)


def _one_line(value, default: str = "") -> str:
    """A text setting as stored: ``default`` when null or empty; a control character (a line break, a tab) is
    refused, as ApertureDB would compare it with property values and names that never hold one."""
    if not value:
        return default
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise ValidationError("no control characters (line breaks, tabs) allowed")
    return value


def _region_property_name(value, default: str) -> str:
    name = _one_line(value, default)
    if name.startswith("_"):
        raise ValidationError("names starting with '_' are ApertureDB system properties")
    return name


class ApertureDBImportStorageSerializer(ScheduleSerializerMixin, ApertureDBStorageSerializerMixin,
                                        ImportStorageSerializer):
    sync_interval = interval_serializer_field("sync_interval")
    constraints = serializers.JSONField(required=False, allow_null=True)
    pred_constraints = serializers.JSONField(required=False, allow_null=True)
    connected_to = serializers.JSONField(required=False, allow_null=True)
    properties = serializers.JSONField(required=False)
    property_defaults = serializers.JSONField(required=False, allow_null=True)
    JSON_SETTINGS = ("constraints", "pred_constraints", "connected_to", "property_defaults")
    constraints_text, pred_constraints_text, connected_to_text, property_defaults_text = (
        _form_text() for _ in JSON_SETTINGS)
    annotations_label_version = _text_setting(LABEL_VERSION_LENGTH)
    version_property = _text_setting(PROPERTY_NAME_LENGTH)
    score_property = _text_setting(PROPERTY_NAME_LENGTH)

    def validate_annotations_label_version(self, value):
        return _one_line(value)

    def validate_version_property(self, value):
        return _region_property_name(value, MODEL_VERSION)

    def validate_score_property(self, value):
        return _region_property_name(value, SCORE)

    def validate_constraints(self, value):
        return _constraints_field(value, "constraints")

    def validate_pred_constraints(self, value):
        return _constraints_field(value, "pred_constraints")

    def validate_property_defaults(self, value):
        if value in (None, ""):
            return {}
        if isinstance(value, str):  # a form's text field
            try:
                value = json.loads(value)
            except ValueError as error:
                raise ValidationError(f"property_defaults: not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise ValidationError('property_defaults: give an object {"property": default value}')
        for name, default in value.items():
            if not name or name.startswith("_"):
                raise ValidationError(f"property_defaults: {name!r} is not an image property name")
            if default is None or isinstance(default, (dict, list)):
                raise ValidationError(f"property_defaults: the default of {name!r} must be a number, text or "
                                      "true/false")
        return value

    def validate_connected_to(self, value):
        try:
            return parse_connected_to(value) or None
        except ConstraintsError as error:
            raise ValidationError(f"connected_to: {error}") from None

    def validate_properties(self, value):
        if value in (None, ""):
            return []
        if isinstance(value, str):  # a form's text field: "name, split"
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValidationError("properties: give image property names, as a list or separated by commas")
        if any(v.startswith("_") for v in value):
            raise ValidationError("properties: names starting with '_' are ApertureDB system properties")
        return value

    class Meta:
        model = ApertureDBImportStorage
        exclude = ["sync_run", "sync_state"]
        read_only_fields = ["next_sync_at"]


class ApertureDBExportStorageSerializer(ScheduleSerializerMixin, ApertureDBStorageSerializerMixin,
                                        ExportStorageSerializer):
    export_interval = interval_serializer_field("export_interval")
    label_version = _text_setting(LABEL_VERSION_LENGTH)
    image_properties = serializers.JSONField(required=False, allow_null=True)
    JSON_SETTINGS = ("image_properties",)
    image_properties_text = _form_text()

    def validate_label_version(self, value):
        return _one_line(value)

    def validate_image_properties(self, value):
        """``{from_name: property}``; null or empty is none. JSON text is read as the object it holds."""
        if value in (None, ""):
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError('image_properties: give a JSON object {"from_name": "property"}') from None
        if not isinstance(value, dict) or not all(isinstance(key, str) and key and isinstance(name, str) and name
                                                  for key, name in value.items()):
            raise ValidationError('image_properties: give a JSON object {"from_name": "property"} of non-empty names')
        for name in value.values():
            try:
                _region_property_name(name, "")
            except ValidationError as error:
                raise ValidationError(f"image_properties: {name!r}: {error.detail[0]}") from None
            if len(name) > PROPERTY_NAME_LENGTH:
                raise ValidationError(f"image_properties: property names have at most {PROPERTY_NAME_LENGTH} characters")
        written_twice = sorted({name for name in value.values() if list(value.values()).count(name) > 1})
        if written_twice:
            raise ValidationError(f"image_properties: each property from one control: {', '.join(written_twice)} is "
                                  "given twice")
        return value

    def validate(self, data):
        """Image properties name image-level controls of the project's label config (checked before connecting)."""
        project = data.get("project") or getattr(self.instance, "project", None)
        if data.get("image_properties") and project is not None:
            controls = project.get_parsed_config()
            unknown = sorted(name for name in data["image_properties"]
                             if (controls.get(name) or {}).get("type", "").lower() not in IMAGE_PROPERTY_TYPES)
            if unknown:
                raise ValidationError({"image_properties": [
                    f"image_properties: {', '.join(unknown)}: the label config has no Choices, Number, Rating or "
                    "TextArea of this name"]})
        return super().validate(data)

    class Meta:
        model = ApertureDBExportStorage
        exclude = ["export_settings"]
        read_only_fields = ["pending_deletions", "next_sync_at"]
