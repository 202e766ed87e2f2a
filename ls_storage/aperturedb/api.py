"""REST endpoints of the ApertureDB storages: Label Studio's generic storage views, bound to our models, taking
only JSON objects of bounded nesting; and Label Studio's file resolver with HEAD and sturdier Range handling."""

import json

from django.conf import settings
from io_storages.api import (
    ExportStorageDetailAPI,
    ExportStorageFormLayoutAPI,
    ExportStorageListAPI,
    ExportStorageSyncAPI,
    ExportStorageValidateAPI,
    ImportStorageDetailAPI,
    ImportStorageFormLayoutAPI,
    ImportStorageListAPI,
    ImportStorageListFilesAPI,
    ImportStorageSyncAPI,
    ImportStorageValidateAPI,
)

from io_storages.proxy_api import ProjectResolveStorageUri, TaskResolveStorageUri
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from .models import ApertureDBExportStorage, ApertureDBImportStorage
from .serializers import (
    MAX_JSON_DEPTH,
    ApertureDBExportStorageSerializer,
    ApertureDBImportStorageSerializer,
    nesting_beyond,
    shown_name,
    stored_storage_id,
)


class StorageJSONParser(JSONParser):
    """A storage's settings as JSON: an object (a list, a string, a number or null is a 400 saying so), nested at
    most ``MAX_JSON_DEPTH`` levels below it — deeper is a 400 naming the field it is under, found by reading
    tokens before parsing (Python's parser would exhaust the stack at about 1,000 levels: a 500) — in UTF-8,
    without NaN or Infinity."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"The body is not {encoding} text.") from None
        too_deep, key = nesting_beyond(text, MAX_JSON_DEPTH + 1)
        if too_deep and isinstance(key, str):
            raise ValidationError({shown_name(key): [f"{shown_name(key)}: nested deeper than {MAX_JSON_DEPTH} levels"]})
        if too_deep:
            raise ParseError(f"The body is nested deeper than {MAX_JSON_DEPTH} levels.")
        try:
            data = json.loads(text, parse_constant=_not_json)
        except (ValueError, RecursionError) as error:
            raise ParseError(f"JSON parse error - {error}") from None
        if not isinstance(data, dict):
            raise ParseError(f"The body must be a JSON object of the storage's settings, not {_kind(data)}.")
        return data


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _kind(value) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


PARSERS = (StorageJSONParser, FormParser, MultiPartParser)


def _stored(model, data, user):
    """The stored storage a Check Connection (or files preview) names by ``id``, or None when it names none."""
    if "id" not in data or data["id"] in (None, ""):
        return None
    storage_id = stored_storage_id(data["id"])
    storage = model.objects.filter(id=storage_id).first() if storage_id else None
    if storage is None:
        raise ValidationError({"id": ["id: no such storage"]})
    if not storage.has_permission(user):
        raise PermissionDenied()
    return storage


class _ValidateMixin:
    """Check Connection: the settings given (over the stored storage's, when ``id`` names one) are checked as a
    save would check them, and nothing is saved (Label Studio's own view saves a stored storage's changes)."""

    parser_classes = PARSERS

    def create(self, request, *args, **kwargs):
        stored = _stored(self.serializer_class.Meta.model, request.data, request.user)
        serializer = self.serializer_class(instance=stored, data=request.data, partial=stored is not None,
                                           context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return Response()


class ApertureDBImportStorageListAPI(ImportStorageListAPI):
    parser_classes = PARSERS
    queryset = ApertureDBImportStorage.objects.all()
    serializer_class = ApertureDBImportStorageSerializer


class ApertureDBImportStorageDetailAPI(ImportStorageDetailAPI):
    parser_classes = PARSERS
    queryset = ApertureDBImportStorage.objects.all()
    serializer_class = ApertureDBImportStorageSerializer


class ApertureDBImportStorageSyncAPI(ImportStorageSyncAPI):
    serializer_class = ApertureDBImportStorageSerializer


class ApertureDBImportStorageValidateAPI(_ValidateMixin, ImportStorageValidateAPI):
    serializer_class = ApertureDBImportStorageSerializer


class ApertureDBImportStorageFormLayoutAPI(ImportStorageFormLayoutAPI):
    pass


class ApertureDBImportStorageListFilesAPI(ImportStorageListFilesAPI):
    """Label Studio's files preview, taking our bodies, and refusing an ``id`` that names no storage with a 400."""

    parser_classes = PARSERS

    def create(self, request, *args, **kwargs):
        _stored(self.serializer_class.Meta.model, request.data, request.user)
        return super().create(request, *args, **kwargs)


class ApertureDBExportStorageListAPI(ExportStorageListAPI):
    parser_classes = PARSERS
    queryset = ApertureDBExportStorage.objects.all()
    serializer_class = ApertureDBExportStorageSerializer


class ApertureDBExportStorageDetailAPI(ExportStorageDetailAPI):
    parser_classes = PARSERS
    queryset = ApertureDBExportStorage.objects.all()
    serializer_class = ApertureDBExportStorageSerializer


class ApertureDBExportStorageSyncAPI(ExportStorageSyncAPI):
    serializer_class = ApertureDBExportStorageSerializer


class ApertureDBExportStorageValidateAPI(_ValidateMixin, ExportStorageValidateAPI):
    serializer_class = ApertureDBExportStorageSerializer


class ApertureDBExportStorageFormLayoutAPI(ExportStorageFormLayoutAPI):
    pass


class _ResolverMixin:
    """Label Studio's resolver (``/tasks/<id>/resolve/``, ``/projects/<id>/resolve/``), unchanged for every storage
    but for three things:

    - HEAD answers as GET does (status and headers, no body); the stock views allow only GET (405);
    - a ``Range`` whose positions have hundreds of digits no longer fails Label Studio's own rewriting of it (an
      overflow in a log line, answered 424): the range is left to the storage (ours reads the request's own);
    - an error answer is never cached (the stock views mark every answer cacheable for an hour).
    """

    http_method_names = ["get", "head"]

    def head(self, request, *args, **kwargs):
        response = self.get(request, *args, **kwargs)
        if getattr(response, "streaming", False):
            length = response.get("Content-Length")
            response.streaming_content = []
            if length is not None:
                response["Content-Length"] = length
        return response

    def override_range_header(self, request):
        try:
            return super().override_range_header(request)
        except (OverflowError, ValueError):
            return None

    def proxy_data_from_storage(self, request, uri, project, storage):
        response = super().proxy_data_from_storage(request, uri, project, storage)
        if response.status_code >= 400:
            response["Cache-Control"] = "no-store"
        return response


class TaskResolveAPI(_ResolverMixin, TaskResolveStorageUri):
    pass


class ProjectResolveAPI(_ResolverMixin, ProjectResolveStorageUri):
    pass
