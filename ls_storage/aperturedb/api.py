"""REST endpoints of the ApertureDB storages: Label Studio's generic storage views, bound to our models, taking
only JSON objects of bounded nesting; and Label Studio's file resolver with HEAD, sturdier Range handling, and
ApertureDB images served as a file server serves files (validators, caching, one query)."""

import base64
import json
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpResponseNotModified, StreamingHttpResponse
from django.utils.http import parse_etags
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
from rest_framework import status
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from .models import ApertureDBExportStorage, ApertureDBImportStorage, parse_image_uri
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
    """Label Studio's resolver (``/tasks/<id>/resolve/``, ``/projects/<id>/resolve/``), unchanged for every other
    storage, serving an ApertureDB image (``aperturedb://<storage>/<_uniqueid>``) as a file server would:

    - found in one query (:meth:`ApertureDBImportStorage.serving`, the media scope) instead of Label Studio's
      query of every storage type of the project, a permission check per object, and ``can_resolve_url`` on each;
    - with a strong ``ETag`` (on 200 and 206; ``If-Range`` honoured) and ``Cache-Control: private,
      max-age=LS_STORAGE_MEDIA_MAX_AGE, immutable`` (``private, no-cache`` when it is 0); a matching ``If-None-Match`` is a 304 once the same query has
      passed, without asking ApertureDB;
    - the bytes ApertureDB sent as the body, in one piece.

    For every storage: HEAD answers as GET does (status and headers, no body), where the stock views allow only
    GET (405); a ``Range`` whose positions have hundreds of digits no longer fails Label Studio's own rewriting of
    it (an overflow in a log line, answered 424); an error answer is never cached (the stock views mark every
    answer cacheable for an hour).
    """

    http_method_names = ["get", "head"]

    def get(self, request, *args, **kwargs):
        image = parse_image_uri(_decoded(request.GET.get("fileuri", "")))
        if image is None:
            return super().get(request, *args, **kwargs)
        storage_id, uniqueid = image
        storage = ApertureDBImportStorage.serving(storage_id, uniqueid, request.user, **self.image_scope(**kwargs))
        if storage is None:
            return Response(status=status.HTTP_404_NOT_FOUND)
        etag = storage.image_etag(uniqueid)
        if _names_tag(request.headers.get("If-None-Match", ""), etag):
            not_modified = HttpResponseNotModified()
            _cacheable(not_modified, etag)
            return not_modified
        body, content_type, metadata = storage.image_answer(uniqueid)
        # The bytes ApertureDB sent, in one piece: nothing to gain from re-chunking what is in memory.
        response = StreamingHttpResponse((body,), content_type=content_type, status=metadata["StatusCode"])
        response["Content-Length"] = str(metadata["ContentLength"])
        if "ContentRange" in metadata:
            response["Content-Range"] = metadata["ContentRange"]
        if "ETag" in metadata:
            response["Accept-Ranges"] = "bytes"
            _cacheable(response, metadata["ETag"])
        return response

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

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            response["Cache-Control"] = "no-store"
        return response


def _decoded(fileuri: str) -> str:
    """The URI a ``fileuri`` parameter names, decoded as Label Studio's resolver decodes it: base64, else
    URL-encoded (its backward compatibility)."""
    try:
        return base64.urlsafe_b64decode(fileuri.encode()).decode()
    except Exception:  # whatever fails, as Label Studio's
        return unquote(fileuri)


def _names_tag(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` names ``etag`` or is ``*``, by RFC 9110's weak comparison (section 13.1.2)."""
    tags = parse_etags(if_none_match)
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def _cacheable(response, etag: str) -> None:
    response["ETag"] = etag
    lifetime = settings.LS_STORAGE_MEDIA_MAX_AGE
    response["Cache-Control"] = f"private, max-age={lifetime}, immutable" if lifetime else "private, no-cache"
    response.keyed_by_url = True


class ImageCacheKeyMiddleware:
    """Takes ``Cookie`` out of the ``Vary`` of the resolver's cacheable image answers (``keyed_by_url``), which
    Django's session middleware adds. Label Studio re-signs its session cookie on every request, so an answer
    varying by it would never be reused; these answers are ``private`` (a browser's own cache), and the URL, the
    task's or project's, names the image. First in ``MIDDLEWARE``, so that it sees the answer last."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(response, "keyed_by_url", False) and response.has_header("Vary"):
            kept = [name.strip() for name in response["Vary"].split(",") if name.strip().lower() != "cookie"]
            if kept:
                response["Vary"] = ", ".join(kept)
            else:
                del response["Vary"]
        return response


class TaskResolveAPI(_ResolverMixin, TaskResolveStorageUri):
    @staticmethod
    def image_scope(task_id):
        return {"project__tasks": task_id}


class ProjectResolveAPI(_ResolverMixin, ProjectResolveStorageUri):
    @staticmethod
    def image_scope(project_id):
        return {"project": project_id}
