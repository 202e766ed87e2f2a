"""ApertureDB source and target storages: the Django models Label Studio's storage framework drives."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Iterator

from core.current_request import get_current_request
from core.utils.iterators import iterate_queryset
from django.conf import settings
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from io_storages.base_models import (
    ExportStorage,
    ExportStorageLink,
    ImportStorage,
    ImportStorageLink,
    ProjectStorageMixin,
    _batched,
)
from organizations.models import OrganizationMember
from rest_framework.exceptions import ValidationError

from ls_storage.client.connection import (ApertureDBError, ApertureDBTimeout, ConnectionSettings, QueryFailed, connectors,
                                          open_connector)
from ls_storage.client.schema import grouped, read_schema, source_problems
from ls_storage.client.source import ALL_PROPERTIES, ImageSelection, check_selection, fetch_image, iter_image_pages
from ls_storage.client.target import (
    AnnotationWrite,
    delete_annotation,
    ensure_indexes,
    image_values,
    probe_write,
    write_annotations,
    write_image_properties,
)
from ls_storage.conversion.annotations import (
    ConversionError,
    results_to_objects,
    value_property_names,
)
from ls_storage.conversion.predictions import MODEL_VERSION, SCORE, PredictionProperties

from .scheduling import ExportScheduleMixin, SyncScheduleMixin

logger = logging.getLogger(__name__)

URL_SCHEME = "aperturedb"
EXPORT_BATCH = 500  # annotations a target Sync reads, prepares and hands to its writers at a time
# Annotations a target Sync writes per transaction: a round trip each would cost ApertureDB and the network more
# than the annotation's own commands; a transaction ApertureDB refuses is written again one annotation at a time.
ANNOTATIONS_PER_TRANSACTION = 20
LABEL_VERSION_LENGTH = 64
PROPERTY_NAME_LENGTH = 255


def image_uri(storage_id: int, uniqueid: str) -> str:
    """The task data URI of an image: unique to the storage, resolved only by it."""
    return f"{URL_SCHEME}://{storage_id}/{uniqueid}"


_STORAGE_ID = re.compile(r"[1-9][0-9]{0,17}")  # canonical: no sign, no leading zero, ASCII digits only
MAX_UNIQUEID_LENGTH = 256


def parse_image_uri(uri: str) -> tuple[int, str] | None:
    """``(storage id, _uniqueid)`` of an image URI in its one canonical form; None for anything else (another
    scheme, a storage id with a sign, leading zeros or non-ASCII digits, a unique id with spaces, control
    characters or over 256 characters), which then names no image."""
    prefix = f"{URL_SCHEME}://"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        return None
    storage_id, _, uniqueid = uri[len(prefix):].partition("/")
    if not _STORAGE_ID.fullmatch(storage_id) or not uniqueid or len(uniqueid) > MAX_UNIQUEID_LENGTH:
        return None
    if not uniqueid.isprintable() or any(character.isspace() for character in uniqueid):
        return None
    return int(storage_id), uniqueid


def as_validation_error(error: ApertureDBError) -> ValidationError:
    return ValidationError({error.field: [str(error)]} if error.field else [str(error)])


class ApertureDBStorageMixin(models.Model):
    """How to reach ApertureDB. A connection key given through the API fills these fields and is not kept."""

    hostname = models.TextField(_("hostname"), help_text="ApertureDB host name")
    port = models.PositiveIntegerField(_("port"), default=55555, help_text="ApertureDB port")
    username = models.TextField(_("username"), blank=True, default="", help_text="ApertureDB user")
    password = models.TextField(_("password"), blank=True, default="", help_text="ApertureDB password")
    token = models.TextField(_("token"), blank=True, default="", help_text="ApertureDB API token (instead of a password)")
    use_ssl = models.BooleanField(_("use TLS"), default=True, help_text="Connect over TLS")
    ca_cert = models.TextField(
        _("CA certificate"), blank=True, default="",
        help_text="PEM of the CA that signed the server's certificate; system CAs when empty",
    )
    verify_hostname = models.BooleanField(
        _("verify hostname"), default=True, help_text="Verify the server certificate and its host name"
    )
    use_rest = models.BooleanField(
        _("use REST"), default=False, help_text="Connect through ApertureDB's REST API instead of its TCP protocol"
    )

    def connection_settings(self) -> ConnectionSettings:
        return ConnectionSettings(
            hostname=self.hostname, port=self.port, username=self.username or "", password=self.password or "",
            token=self.token or "", use_ssl=self.use_ssl, ca_cert=self.ca_cert or "",
            verify_hostname=self.verify_hostname, use_rest=self.use_rest,
        )

    def connector(self):
        """A logged-in connector for this thread, reused across calls."""
        return connectors.get(self.connection_settings())

    def validate_connection(self, client=None):
        """Log in and run a query (Label Studio asks this before a Sync too); a failure is a ``ValidationError``
        naming the field at fault."""
        self._validate(self.check_access)

    def validate_settings(self):
        """What Check Connection and a save ask: :meth:`validate_connection`, and the settings against what
        ApertureDB holds (not before a Sync: what it holds may change under a saved storage)."""
        self._validate(self.check_settings, self.check_access)

    def _validate(self, *checks):
        try:
            connector = open_connector(self.connection_settings())
        except ApertureDBError as error:
            raise as_validation_error(error) from None
        try:
            for check in checks:
                check(connector)
        except ApertureDBError as error:
            raise as_validation_error(error) from None
        finally:
            connector.close()

    def check_access(self, connector) -> None:
        """What this storage needs beyond a login (reading its images, writing annotations)."""

    def check_settings(self, connector) -> None:
        """The settings against what ApertureDB holds; a ``ValidationError`` naming each field at fault."""

    def info_set_failed(self):
        """A sync job failed: only a storage whose sync is queued or running takes it. RQ also reports the job of a
        killed worker, as failed, whenever a worker next cleans its registries (when one starts, or ten minutes
        later): by then Label Studio has called that job lost and a later sync may have completed, whose status
        stays."""
        status = type(self).objects.filter(id=self.id).values_list("status", flat=True).first()
        if status not in (self.Status.QUEUED, self.Status.IN_PROGRESS):
            logger.info("ApertureDB storage %s: a failed job's report left out, the storage is %s", self.id, status)
            return
        super().info_set_failed()

    @property
    def path_full(self):
        return f"{URL_SCHEME}://{self.hostname}:{self.port}"

    @property
    def type_full(self):
        return "ApertureDB"

    class Meta:
        abstract = True


class ApertureDBImportStorageBase(ApertureDBStorageMixin, SyncScheduleMixin, ImportStorage):
    url_scheme = URL_SCHEME
    # Images always stream through Label Studio's resolver: ApertureDB has no public URLs.
    presign = False

    constraints = models.JSONField(
        _("constraints"), null=True, blank=True, help_text="FindImage constraints selecting the images"
    )
    connected_to = models.JSONField(
        _("connected to"), null=True, blank=True,
        help_text="Only images connected to an entity these select (datasets): [{class, constraints, "
                  "connection_class, direction}]",
    )
    predictions = models.BooleanField(
        _("predictions"), default=True, help_text="Import bounding boxes and polygons as predictions"
    )
    pred_constraints = models.JSONField(
        _("prediction constraints"), null=True, blank=True, help_text="Constraints selecting the boxes and polygons"
    )
    properties = models.JSONField(
        _("properties"), default=list, blank=True, help_text="Image property names copied into task data"
    )
    property_defaults = models.JSONField(
        _("property defaults"), default=dict, blank=True,
        help_text="{name: value} given to the task data of an image without that property",
    )
    allow_unknown_properties = models.BooleanField(
        _("allow unknown properties"), default=False,
        help_text="Let the constraints, properties and defaults name properties no image (box, polygon, entity) has "
                  "yet; otherwise such a name is refused when the storage is checked or saved",
    )
    limit = models.PositiveIntegerField(_("limit"), null=True, blank=True, help_text="Import at most this many images")
    remove_missing_tasks = models.BooleanField(
        _("remove missing tasks"), default=False,
        help_text="On sync, delete unannotated tasks whose image is gone from ApertureDB or no longer matches",
    )
    import_annotations = models.BooleanField(
        _("import annotations"), default=False,
        help_text="New tasks get the Label Studio annotations stored in ApertureDB for their image",
    )
    annotations_label_version = models.CharField(
        _("label version of imported annotations"), max_length=LABEL_VERSION_LENGTH, blank=True, default="",
        help_text="Import only the annotations whose LS_label_version is this; all when empty",
    )
    version_property = models.CharField(
        _("model version property"), max_length=PROPERTY_NAME_LENGTH, blank=True, default=MODEL_VERSION,
        help_text="The box and polygon property a prediction takes its model version from",
    )
    score_property = models.CharField(
        _("score property"), max_length=PROPERTY_NAME_LENGTH, blank=True, default=SCORE,
        help_text="The box and polygon property a prediction takes its score from",
    )
    recheck_images = models.BooleanField(
        _("re-check every image"), default=False,
        help_text="Every sync reads all images again, to notice changed properties and moved, relabelled or "
                  "deleted boxes; otherwise a sync reads only what ApertureDB created since the last one",
    )
    sync_run = models.PositiveIntegerField(default=0, help_text="Number of full syncs started")
    sync_state = models.JSONField(
        null=True, blank=True, help_text="What the last sync saw, for the next one to read only what is new"
    )

    def selection(self, with_regions: bool | None = None) -> ImageSelection:
        return ImageSelection(
            constraints=self.constraints or None,
            connected_to=tuple(self.connected_to or ()),
            properties=tuple(self.properties or ()),
            with_regions=self.predictions if with_regions is None else with_regions,
            region_constraints=self.pred_constraints or None,
            limit=self.limit or None,
            with_annotations=self.import_annotations,
            annotations_label_version=self.annotations_label_version or None,
            prediction_properties=self.prediction_properties(),
        )

    def prediction_properties(self) -> PredictionProperties:
        return PredictionProperties(version=self.version_property or MODEL_VERSION, score=self.score_property or SCORE)

    def settings_fingerprint(self, *parts) -> str:
        """Changes with anything that decides what the tasks hold, so that a change forces a full sync."""
        settings = (self.hostname, self.port, self.constraints, self.connected_to, self.pred_constraints,
                    self.properties, self.property_defaults, self.predictions, self.limit, self.prediction_properties(), *parts)
        return hashlib.sha256(repr(settings).encode()).hexdigest()

    def check_access(self, connector) -> None:
        check_selection(connector, self.selection())

    def check_settings(self, connector) -> None:
        problems = source_problems(
            read_schema(connector), constraints=self.constraints or None,
            region_constraints=(self.pred_constraints or None) if self.predictions else None,
            connected_to=self.connected_to or (),
            properties=[name for name in self.properties or () if name != ALL_PROPERTIES],
            property_defaults=self.property_defaults or {}, allow_unknown=self.allow_unknown_properties)
        if problems:
            raise ValidationError(grouped(problems))

    def scan_and_create_links(self):
        from .sync import sync_source_storage

        sync_source_storage(self)

    # The storage "files" preview lists images the way other storages list keys.
    def iter_objects(self) -> Iterator[str]:
        for page in iter_image_pages(self.connector(), self.selection(with_regions=False)):
            for record in page:
                yield record.uniqueid

    def iter_keys(self) -> Iterator[str]:
        return self.iter_objects()

    def get_unified_metadata(self, obj):
        return {"key": obj, "last_modified": None, "size": None}

    def can_resolve_url(self, url) -> bool:
        """Only images of this storage's own tasks: Label Studio's resolver answers 404 for the rest."""
        return self._linked_uniqueid(url) is not None

    def _linked_uniqueid(self, uri) -> str | None:
        """The image's ``_uniqueid`` when the requester may have it; decided once per request and URI, as
        Label Studio's resolver asks ``can_resolve_url`` and then ``get_bytes_stream`` for the same one."""
        request = get_current_request()
        decided = getattr(self, "_decided", None)
        if decided is not None and decided[0] is request and decided[1] == uri:
            return decided[2]
        parsed = parse_image_uri(uri) if isinstance(uri, str) else None
        uniqueid = parsed[1] if parsed is not None and parsed[0] == self.id and self._may_read(request, parsed[1]) \
            else None
        self._decided = (request, uri, uniqueid)
        return uniqueid

    def _may_read(self, request, uniqueid: str) -> bool:
        """Whether the image is one of this storage's and the requester may have it, in one query (the resolver
        asks for every image the labeling UI shows). Open-source Label Studio lets any signed-in user resolve any
        task's files; images of this storage go only to active members of the project's organization. Work
        outside a request (syncs, exports) passes."""
        links = self.links.filter(key=uniqueid)
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return request is None and links.exists()
        return links.filter(models.Exists(OrganizationMember.objects.filter(
            user_id=user.id, organization__projects=self.project_id, deleted_at__isnull=True
        ))).exists()

    @classmethod
    def serving(cls, storage_id: int, uniqueid: str, user, **scope) -> "ApertureDBImportStorage | None":
        """The storage that serves ``user`` the image ``aperturedb://<storage_id>/<uniqueid>``, or None: it synced
        that image, ``scope`` (a filter such as ``project=3`` or ``project__tasks=7``) holds it, and the user is an
        active member of its project's organization. The scope of :meth:`_may_read` in one query of Label Studio's
        database, loading only what reaching ApertureDB takes: the resolver asks for every image shown."""
        if not user.is_authenticated:
            return None
        # Joins, in one filter() so that both member conditions hold for the same membership: Django builds this
        # query in a third of the time an Exists subquery on the storage's project takes.
        found = cls.objects.filter(
            id=storage_id, links__key=uniqueid, project__organization__organizationmember__user=user.id,
            project__organization__organizationmember__deleted_at__isnull=True, **scope,
        ).only("project_id", *CONNECTION_FIELDS)[:1]
        return next(iter(found), None)

    def generate_http_url(self, url):
        # Never a public URL: Label Studio rewrites the URI to its own resolver endpoint.
        return url

    def get_bytes_stream(self, uri, range_header=None):
        """Label Studio's resolver interface to :meth:`image_answer`; anything but an image of this storage's tasks
        the requester may have is not found (None: Label Studio answers it)."""
        uniqueid = self._linked_uniqueid(uri)
        if uniqueid is None:
            return None, None, {}
        body, content_type, metadata = self.image_answer(uniqueid, range_header)
        return BytesStream(body), content_type, metadata

    def image_answer(self, uniqueid: str, range_header: str | None = None) -> tuple[bytes, str, dict]:
        """The body, content type and metadata (as ``get_bytes_stream``'s) of an image of this storage, honouring
        the request's ``Range`` and ``If-Range`` as RFC 9110 says (see :func:`requested_range`), with its
        :meth:`image_etag`. An image that is gone from ApertureDB is a 404; ApertureDB not answering within
        ``APERTUREDB_QUERY_TIMEOUT`` (or ``APERTUREDB_CONNECT_TIMEOUT`` to connect) a 504, ApertureDB unreachable
        or failing a 502."""
        try:
            blob, content_type = fetch_image(self.connector(), uniqueid)
        except KeyError:
            return _failure(404, "The image is no longer in ApertureDB.")
        except ApertureDBError as error:
            logger.warning("ApertureDB storage %s could not serve %s: %s", self.id, uniqueid, error)
            connectors.discard(self.connection_settings())
            if isinstance(error, ApertureDBTimeout):
                return _failure(504, "ApertureDB did not answer in time.")
            return _failure(502, "ApertureDB could not be reached or failed to answer.")
        etag = self.image_etag(uniqueid)
        return _byte_range(blob, content_type, _range_header(range_header, etag), etag)

    def image_etag(self, uniqueid: str) -> str:
        """A strong entity tag of an image's bytes. ApertureDB never changes an image's blob under the same
        ``_uniqueid``, so the storage, the ApertureDB it reads and the ``_uniqueid`` identify the bytes; hashed, as
        a ``_uniqueid`` may hold characters an entity tag may not."""
        identity = "\0".join((str(self.id), self.hostname, str(self.port), uniqueid))
        return f'"{hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()}"'

    class Meta:
        abstract = True


CONNECTION_FIELDS = tuple(item.name for item in dataclasses.fields(ConnectionSettings))


def _failure(status: int, message: str) -> tuple[bytes, str, dict]:
    body = json.dumps({"error": message, "status_code": status}).encode()
    return body, "application/json", {"StatusCode": status, "ContentLength": len(body)}


def _range_header(passed: str | None, etag: str) -> str | None:
    """The request's own ``Range`` (Label Studio's resolver hands storages a rewritten one: a suffix range
    becomes ``bytes=0-...``, an invalid one ``bytes=0-``, and only the first of several ranges is kept), or
    none when its ``If-Range`` names another representation than ``etag``: then the whole image, as RFC 9110
    section 13.1.5 says (a date never matches, as these answers carry no ``Last-Modified``, nor a weak tag)."""
    request = get_current_request()
    headers = getattr(request, "headers", None)
    if headers is None:
        return passed
    if_range = headers.get("If-Range")
    return headers.get("Range") if if_range is None or if_range.strip() == etag else None


UNSATISFIABLE = "unsatisfiable"
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
_HUGE = 10 ** 18  # beyond any image: positions with more digits are not converted (Python refuses > 4300 digits)


def _position(digits: str) -> int:
    return int(digits) if len(digits) < 19 else _HUGE


def requested_range(header: str | None, total: int):
    """What a ``Range`` header asks of ``total`` bytes, by RFC 9110 section 14: ``None`` to send them all (no
    header, another unit than bytes, or a header a byte-range-spec of which is invalid, such as ``bytes=5-2`` or
    ``bytes=a-b``: ignored, as the RFC says), ``(first, last)`` for one satisfiable range, ``UNSATISFIABLE`` when
    none is (a first position at or past the end, ``bytes=-0``: 416). Several ranges are answered with the
    whole image (a server may ignore a Range, and images are small), or 416 when none of them is satisfiable."""
    if not header:
        return None
    unit, equals, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not equals:
        return None
    ranges = []
    for spec in (part.strip() for part in specs.split(",")):
        if not spec:
            continue  # the list syntax allows empty elements
        match = _RANGE_SPEC.fullmatch(spec)
        if match is None or match.group(1) == match.group(2) == "":
            return None
        first, last = match.groups()
        if first == "":  # a suffix: the last N bytes
            length = _position(last)
            ranges.append((max(total - length, 0), total - 1) if length and total else UNSATISFIABLE)
            continue
        start = _position(first)
        if last != "" and _position(last) < start:
            return None
        ranges.append((start, min(_position(last), total - 1) if last else total - 1) if start < total
                      else UNSATISFIABLE)
    satisfiable = [item for item in ranges if item != UNSATISFIABLE]
    if not ranges:
        return None
    if not satisfiable:
        return UNSATISFIABLE
    return satisfiable[0] if len(ranges) == 1 else None


def _byte_range(blob: bytes, content_type: str, range_header: str | None, etag: str) -> tuple[bytes, str, dict]:
    """200 with the whole image, 206 with the range asked (at most Label Studio's
    ``RESOLVER_PROXY_MAX_RANGE_SIZE`` bytes, unless from the first byte to the end, as Label Studio's resolver
    limits ranges), both with the image's ``etag``; or 416 with ``Content-Range: bytes */size``."""
    total = len(blob)
    wanted = requested_range(range_header, total)
    if wanted == UNSATISFIABLE:
        return b"", content_type, {"StatusCode": 416, "ContentLength": 0, "ContentRange": f"bytes */{total}"}
    if wanted is None:
        return blob, content_type, {"StatusCode": 200, "ContentLength": total, "ETag": etag}
    start, end = wanted
    if not (start == 0 and end == total - 1):
        end = min(end, start + settings.RESOLVER_PROXY_MAX_RANGE_SIZE - 1)
    body = blob[start:end + 1]
    return body, content_type, {"StatusCode": 206, "ContentLength": len(body),
                                "ContentRange": f"bytes {start}-{end}/{total}", "ETag": etag}


class BytesStream:
    """The stream Label Studio's resolver reads (``iter_chunks``, ``close``)."""

    def __init__(self, data: bytes):
        self._buffer = io.BytesIO(data)

    def iter_chunks(self, chunk_size: int = 64 * 1024):
        while chunk := self._buffer.read(chunk_size):
            yield chunk

    def close(self):
        self._buffer.close()


class ApertureDBImportStorage(ProjectStorageMixin, ApertureDBImportStorageBase):
    class Meta:
        abstract = False


class ApertureDBImportStorageLink(ImportStorageLink):
    storage = models.ForeignKey(ApertureDBImportStorage, on_delete=models.CASCADE, related_name="links")
    digest = models.CharField(max_length=64, blank=True, default="", help_text="Digest of the synced data and regions")
    sync_run = models.PositiveIntegerField(default=0, help_text="The last sync that saw this image")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["storage", "key"], name="aperturedb_link_unique_image")]


class ExportSkipped(Exception):
    """The annotation cannot go to this target (its task has no image in this ApertureDB)."""


class ApertureDBExportStorage(ApertureDBStorageMixin, ExportScheduleMixin, ExportStorage):
    # Not in ``meta``: Label Studio resets ``meta`` whenever a sync is queued.
    pending_deletions = models.JSONField(
        default=list, blank=True, help_text="Annotations deleted in Label Studio whose removal from ApertureDB failed"
    )
    label_version = models.CharField(
        _("label version"), max_length=LABEL_VERSION_LENGTH, blank=True, default="",
        help_text="Written as LS_label_version on every annotation and region (e.g. 2.0.0); none when empty",
    )
    image_properties = models.JSONField(
        _("image properties"), default=dict, blank=True,
        help_text="{from_name: property}: the image-level Choices, Number, Rating or TextArea value of a task's "
                  "latest annotation, written onto its image as that property",
    )
    full_export = models.BooleanField(
        _("full export"), default=False,
        help_text="The next Sync writes every annotation again, not only those changed since they were written; "
                  "turned off as that Sync starts",
    )
    export_settings = models.CharField(
        max_length=64, blank=True, default="",
        help_text="Fingerprint of what every annotation carries (export_fingerprint) that the links' written "
                  "versions hold for; another one makes the next Sync write every annotation",
    )

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._remember_meta()
        return instance

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        self._remember_meta()

    def _remember_meta(self) -> None:
        if "meta" in self.__dict__:  # not deferred
            self._loaded_meta = copy.deepcopy(self.meta or {})

    def save(self, *args, **kwargs):
        """Label Studio saves ``meta`` whole from the copy it read when the sync started, which would undo what
        automatic exports recorded meanwhile. So a save of ``meta`` takes, under the row lock, the export's keys
        (:data:`EXPORT_META`) it did not change itself from the row, and ``export_pending`` from the facts: any
        annotation not in ApertureDB as it is now, any deletion not done."""
        update_fields = kwargs.get("update_fields")
        if self.pk is None or (update_fields is not None and "meta" not in update_fields):
            return super().save(*args, **kwargs)
        from .export import annotations_pending

        with transaction.atomic():
            current = type(self).objects.select_for_update().filter(id=self.id).values(
                "meta", "pending_deletions").first()
            if current is not None:
                loaded, stored = getattr(self, "_loaded_meta", {}), current["meta"] or {}
                meta = dict(self.meta or {})
                for key in EXPORT_META:
                    if meta.get(key) == loaded.get(key):  # not this save's to change
                        meta.pop(key, None)
                        if key in stored:
                            meta[key] = stored[key]
                meta["export_pending"] = bool(current["pending_deletions"]) or annotations_pending(self).exists()
                self.meta = meta
            super().save(*args, **kwargs)
        self._remember_meta()

    def check_access(self, connector) -> None:
        probe_write(connector)
        ensure_indexes(connector)

    def _connector_with_indexes(self):
        connector = self.connector()
        key = self.connection_settings().fingerprint()
        if key not in _indexed:
            ensure_indexes(connector)
            _indexed.add(key)
        return connector

    def image_keys(self, task_ids) -> dict[int, str]:
        """The ApertureDB image of each task that a source storage synced from this target's ApertureDB."""
        return dict(ApertureDBImportStorageLink.objects.filter(
            task_id__in=task_ids, storage__hostname=self.hostname, storage__port=self.port,
        ).values_list("task_id", "key"))

    def image_decisions(self, task_ids) -> dict[int, dict]:
        """The image properties each task's image is to have (``{property: value, None: removed}``): decided by the
        task's latest submitted annotation that was not cancelled (the last saved: an update makes it the latest),
        all removed when none is left; none when this target writes no image properties."""
        if not self.image_properties:
            return {}
        from tasks.models import Annotation

        latest: dict[int, list] = {}
        for task_id, result in Annotation.objects.filter(task_id__in=task_ids, was_cancelled=False).order_by(
                "task_id", "-updated_at", "-id").values_list("task_id", "result"):
            latest.setdefault(task_id, result or [])
        return {task_id: image_values(latest.get(task_id), self.image_properties) for task_id in task_ids}

    def task_image(self, task_id: int | None) -> tuple[str, dict] | None:
        """``(_uniqueid, image properties)`` of a task's image, for a write that is not of an annotation of it."""
        if task_id is None or not self.image_properties:
            return None
        uniqueid = self.image_keys([task_id]).get(task_id)
        return None if uniqueid is None else (uniqueid, self.image_decisions([task_id])[task_id])

    def prepare(self, annotation, image_keys: dict[int, str], decisions: dict[int, dict]) -> AnnotationWrite:
        """Everything the write needs, read from the database (so that writes can run in other threads).

        ``image_keys``, ``decisions``: the tasks' images and image properties (:meth:`image_decisions`)."""
        if annotation.task_id not in image_keys:
            raise ExportSkipped(f"task {annotation.task_id} has no image in the ApertureDB at {self.hostname}:{self.port}")
        try:
            objects = results_to_objects(annotation.result or [], None, None)
        except ConversionError as error:
            raise ExportSkipped(f"annotation {annotation.id}: {error}") from None
        return AnnotationWrite(annotation.id, image_keys[annotation.task_id],
                               annotation_properties(annotation, self.project.title), objects, self.label_version,
                               decisions.get(annotation.task_id))

    def prepare_many(self, annotations) -> tuple[list[AnnotationWrite], dict[int, Exception]]:
        """The writes of annotations (their tasks' images and image properties looked up at once), and the
        annotations that cannot go to this target, with why."""
        task_ids = {annotation.task_id for annotation in annotations}
        image_keys, decisions = self.image_keys(task_ids), self.image_decisions(task_ids)
        items, skipped = [], {}
        for annotation in annotations:
            try:
                items.append(self.prepare(annotation, image_keys, decisions))
            except ExportSkipped as error:
                skipped[annotation.id] = error
        return items, skipped

    def write(self, items: list[AnnotationWrite], value_properties: set[str]) -> None:
        write_annotations(self._connector_with_indexes(), items, value_properties)

    def write_each(self, items: list[AnnotationWrite], value_properties: set[str]) -> dict[int, Exception | None]:
        """Write annotations in one transaction; if ApertureDB refuses it, one by one, so that an annotation it
        refuses holds back no other. Each annotation's error (None: written); a lost connection raises."""
        try:
            self.write(items, value_properties)
            return dict.fromkeys((item.annotation_id for item in items), None)
        except QueryFailed as error:
            if len(items) == 1:
                return {items[0].annotation_id: error}
        outcome: dict[int, Exception | None] = {}
        for item in items:
            try:
                self.write([item], value_properties)
                outcome[item.annotation_id] = None
            except QueryFailed as error:
                outcome[item.annotation_id] = error
        return outcome

    def write_now(self, annotations) -> dict[int, Exception | None]:
        """Write annotations as read, in this thread: each one's error (None: written). Links are the caller's
        (:func:`~ls_storage.aperturedb.export.settle`)."""
        items, outcome = self.prepare_many(annotations)
        if items:
            try:
                outcome.update(self.write_each(items, self.value_properties()))
            except Exception as error:  # noqa: BLE001 - each annotation's failure, for the caller to record
                outcome.update(dict.fromkeys((item.annotation_id for item in items), error))
        return outcome

    def value_properties(self) -> set[str]:
        return value_property_names(self.project.get_parsed_config())

    def export_fingerprint(self) -> str:
        """Changes with anything every annotation carries to ApertureDB, or with where it goes, so that a change
        makes the next Sync write every annotation."""
        carried = [self.hostname, self.port, self.label_version, self.image_properties or {}, self.project.title,
                   sorted(self.value_properties())]
        return hashlib.sha256(json.dumps(carried, sort_keys=True).encode()).hexdigest()

    def delete_annotation_by_id(self, annotation_id: int, task_id: int | None = None) -> None:
        """Remove a deleted annotation; ``task_id``: its task, whose image properties the task's annotations left
        decide anew in the same transaction."""
        delete_annotation(self._connector_with_indexes(), annotation_id, self.task_image(task_id))
        self.links.filter(annotation_id=annotation_id).delete()

    def reapply_image_properties(self, task_id: int) -> None:
        """A task's image properties as its annotations decide them (one was deleted and stays in ApertureDB)."""
        if image := self.task_image(task_id):
            write_image_properties(self._connector_with_indexes(), image)

    def begin_export(self) -> bool:
        """Whether this Sync writes every annotation: when *full_export* asks it, and when what every annotation
        carries (:meth:`export_fingerprint`) is not what the written versions were counted under (the first Sync,
        another label version, image properties, label config, project title or ApertureDB). Then every written
        version is forgotten first, so that a Sync that stops part-way leaves the rest to the next one."""
        fingerprint = self.export_fingerprint()
        if not self.full_export and fingerprint == self.export_settings:
            return False
        with transaction.atomic():
            self.links.update(annotation_updated_at=None)
            type(self).objects.filter(id=self.id).update(full_export=False, export_settings=fingerprint)
        self.full_export, self.export_settings = False, fingerprint
        return True

    def save_annotations(self, annotations):
        """Sync: of ``annotations``, those not in ApertureDB as they are now (all of them when
        :meth:`begin_export` says so), writes in parallel; failures are counted and reported, never lost."""
        from .export import annotations_pending, retry_deletions

        self.info_set_in_progress()
        everything = self.begin_export()
        retry_deletions(self)
        value_properties = self.value_properties()
        annotations = annotations_pending(self, annotations)
        total = annotations.count()
        written, errors = 0, []
        with ThreadPoolExecutor(max_workers=self.max_workers) as executor:
            writing = None  # a batch and its writes, which run while the next batch is read and prepared
            for batch in _batched(iterate_queryset(annotations.select_related("completed_by"), chunk_size=EXPORT_BATCH),
                                  EXPORT_BATCH):
                items, skipped = self.prepare_many(batch)
                errors.extend(str(error) for error in skipped.values())
                futures = {executor.submit(self.write_each, list(group), value_properties): group
                           for group in _batched(items, ANNOTATIONS_PER_TRANSACTION)}
                written += self._finish_writes(writing, errors)
                self.info_update_progress(last_sync_count=written, total_annotations=total)
                writing = batch, futures
            written += self._finish_writes(writing, errors)
        counts = {"total_annotations": total, "wrote_everything": everything}
        if errors:
            self.info_set_completed_with_errors(written, errors, **counts)
        else:
            self.info_set_completed(last_sync_count=written, **counts)

    def _finish_writes(self, writing: tuple | None, errors: list[str]) -> int:
        """Wait for the writes of a batch (each future a group of annotations) and settle them
        (:func:`~ls_storage.aperturedb.export.settle`: what changed or went meanwhile); how many were written."""
        from .export import settle

        if writing is None:
            return 0
        batch, futures = writing
        outcome: dict[int, Exception | None] = {}
        for future in as_completed(futures):
            try:
                outcome.update(future.result())
            except Exception as error:  # noqa: BLE001 - reported on the storage
                outcome.update(dict.fromkeys((item.annotation_id for item in futures[future]), error))
        settled = settle(self, [annotation for annotation in batch if annotation.id in outcome], outcome)
        errors.extend(f"annotation {annotation_id}: {error}" for annotation_id, error in settled.items()
                      if error is not None)
        return sum(error is None for error in settled.values())

    class Meta:
        abstract = False


# ``meta`` keys the automatic export records (export.py); ``export_pending`` is read from the facts on each save.
EXPORT_META = ("export_failures", "last_export_error", "last_export_error_at")
_indexed: set[str] = set()


def annotation_properties(annotation, project_title: str) -> dict:
    """The ``LS_annotation`` entity's metadata, as ApertureData's integration names it.

    ``project_title``: passed, not read from the annotation: loading a project parses its label config."""
    completed_by = annotation.completed_by
    return {
        "LS_project_id": annotation.project_id,
        "LS_project_title": project_title or "",
        "LS_task_id": annotation.task_id,
        "LS_completed_by": completed_by.email if completed_by else "",
        "LS_created_at": {"_date": annotation.created_at.isoformat()},
        "LS_updated_at": {"_date": annotation.updated_at.isoformat()},
        "LS_lead_time": float(annotation.lead_time or 0.0),
        "LS_ground_truth": bool(annotation.ground_truth),
        "LS_was_cancelled": bool(annotation.was_cancelled),
        "LS_data": json.dumps({
            "id": annotation.id, "task": annotation.task_id, "project": annotation.project_id,
            "result": annotation.result or [], "completed_by": completed_by.email if completed_by else None,
            "created_at": annotation.created_at.isoformat(), "updated_at": annotation.updated_at.isoformat(),
            "lead_time": annotation.lead_time, "ground_truth": annotation.ground_truth,
            "was_cancelled": annotation.was_cancelled,
        }, sort_keys=True),
    }


def mark_written(storage, annotations) -> None:
    """Links say which version of each annotation ApertureDB holds: its ``updated_at`` as written.

    Made anew: each has its own version, so updating them in bulk is one CASE of 500 branches per row (the likely
    cause of full Syncs of 10,000 annotations taking 4 to 8 s more of Label Studio's CPU than one creating them)."""
    versions = {annotation.id: annotation.updated_at for annotation in annotations}
    if not versions:
        return
    with transaction.atomic():
        storage.links.filter(annotation_id__in=versions).delete()
        ApertureDBExportStorageLink.objects.bulk_create(
            [ApertureDBExportStorageLink(storage=storage, annotation_id=annotation_id, annotation_updated_at=version)
             for annotation_id, version in versions.items()])


class ApertureDBExportStorageLink(ExportStorageLink):
    storage = models.ForeignKey(ApertureDBExportStorage, on_delete=models.CASCADE, related_name="links")
    annotation_updated_at = models.DateTimeField(
        null=True, blank=True,
        help_text="The annotation's updated_at in the version ApertureDB holds (none: to be written again)",
    )

    class Meta:
        # What a Sync and export_pending ask of every annotation (export.annotations_pending): without it, SQLite
        # reads all the storage's links for each annotation.
        indexes = [models.Index(fields=["storage", "annotation", "annotation_updated_at"],
                                name="aperturedb_export_written")]
