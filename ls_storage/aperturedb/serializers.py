"""REST serializers of the ApertureDB storages: secrets write-only, every setting checked before saving."""

from __future__ import annotations

import os

from io_storages.serializers import ExportStorageSerializer, ImportStorageSerializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from ls_storage.client.constraints import ConstraintsError, parse_constraints

from .models import ApertureDBExportStorage, ApertureDBImportStorage

STORAGE_TYPE = os.path.basename(os.path.dirname(__file__))  # "aperturedb": the UI builds URLs from it
SECRET_FIELDS = ("password", "token")


class ApertureDBStorageSerializerMixin:
    def to_representation(self, instance):
        result = super().to_representation(instance)
        for name in SECRET_FIELDS:
            result.pop(name, None)
        return result

    def validate(self, data):
        data = super().validate(data)
        storage = self._storage_with(data)
        storage.validate_connection()
        return data

    def _storage_with(self, data):
        """The storage as it would be saved: stored values (secrets included) overlaid with the request's."""
        stored = self.instance
        if stored is None and "id" in getattr(self, "initial_data", {}):
            stored = self.Meta.model.objects.filter(id=self.initial_data["id"]).first()
        values = {}
        if stored is not None:
            values = {f.name: getattr(stored, f.name) for f in self.Meta.model._meta.concrete_fields
                      if f.name not in ("id",) and not f.is_relation}
            values["project"] = stored.project
        for key, value in data.items():
            if key in SECRET_FIELDS and not value and values.get(key):
                continue  # an empty secret field in a form means "keep the stored one"
            values[key] = value
        for key in SECRET_FIELDS:
            data[key] = values.get(key) or ""
        return self.Meta.model(**{k: v for k, v in values.items() if k in self._model_fields()})

    def _model_fields(self):
        return {f.name for f in self.Meta.model._meta.concrete_fields} | {"project"}


def _constraints_field(value, field_name):
    try:
        return parse_constraints(value)
    except ConstraintsError as error:
        raise ValidationError(f"{field_name}: {error}") from None


class ApertureDBImportStorageSerializer(ApertureDBStorageSerializerMixin, ImportStorageSerializer):
    type = serializers.ReadOnlyField(default=STORAGE_TYPE)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True)
    token = serializers.CharField(write_only=True, required=False, allow_blank=True)
    constraints = serializers.JSONField(required=False, allow_null=True)
    pred_constraints = serializers.JSONField(required=False, allow_null=True)
    properties = serializers.JSONField(required=False)

    def validate_constraints(self, value):
        return _constraints_field(value, "constraints")

    def validate_pred_constraints(self, value):
        return _constraints_field(value, "pred_constraints")

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


class ApertureDBExportStorageSerializer(ApertureDBStorageSerializerMixin, ExportStorageSerializer):
    type = serializers.ReadOnlyField(default=STORAGE_TYPE)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True)
    token = serializers.CharField(write_only=True, required=False, allow_blank=True)

    class Meta:
        model = ApertureDBExportStorage
        fields = "__all__"
        read_only_fields = ["pending_deletions"]
