"""Writing annotations to ApertureDB target storages, automatically and without ever failing a submit.

A saved annotation is handed over once the database transaction commits: to an RQ worker when Redis is
on, otherwise to a small thread pool in the web process (``LS_STORAGE_EXPORT_THREADS``, 0 = in the
request). Any failure is caught, logged without secrets and counted on the storage (``meta``); the
next successful automatic export, or a Sync, writes what is still pending.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from core.redis import redis_connected, start_job_async_or_sync
from django.db import close_old_connections, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from tasks.models import Annotation

logger = logging.getLogger(__name__)
PENDING_BATCH = 200
REWRITES = 5  # writes of one annotation by one export while it keeps changing under it
_executor: ThreadPoolExecutor | None = None


def _threads() -> int:
    return int(os.environ.get("LS_STORAGE_EXPORT_THREADS", "2"))


def _run_in_background(function, *args) -> None:
    """Hand the work over; runs in the annotator's request (on commit), so nothing may escape from here."""
    global _executor
    try:
        if redis_connected():
            start_job_async_or_sync(function, *args, queue_name="low")
        elif _threads() > 0:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="aperturedb-export")
            _executor.submit(_in_own_connection, function, *args)
        else:
            function(*args)
    except Exception:  # noqa: BLE001 - a Sync writes what could not be handed over
        logger.exception("ApertureDB export: %s%s could not run", function.__name__, args)


def _in_own_connection(function, *args) -> None:
    close_old_connections()
    try:
        function(*args)
    finally:
        close_old_connections()


def on_annotation_saved(annotation: Annotation) -> None:
    from .models import ApertureDBExportStorage

    storage_ids = list(ApertureDBExportStorage.objects.filter(project_id=annotation.project_id).values_list("id", flat=True))
    for storage_id in storage_ids:
        transaction.on_commit(lambda storage_id=storage_id, annotation_id=annotation.id: _run_in_background(
            export_annotation, storage_id, annotation_id))


def on_annotation_deleted(annotation: Annotation) -> None:
    from .models import ApertureDBExportStorage

    for storage_id, can_delete, image_properties in ApertureDBExportStorage.objects.filter(
        project_id=annotation.project_id
    ).values_list("id", "can_delete_objects", "image_properties"):
        if not can_delete and not image_properties:
            continue
        # Bound now: Django clears the primary key once the row is deleted.
        transaction.on_commit(lambda storage_id=storage_id, annotation_id=annotation.id, task_id=annotation.task_id:
                              _run_in_background(remove_annotation, storage_id, annotation_id, task_id))


def export_annotation(storage_id: int, annotation_id: int) -> None:
    """The automatic export of one annotation, then of whatever earlier attempts left pending."""
    from .models import ApertureDBExportStorage

    storage = ApertureDBExportStorage.objects.filter(id=storage_id).first()
    annotation = Annotation.objects.filter(id=annotation_id).select_related("task").first()
    if storage is None or annotation is None:
        return
    if not _attempt(storage, annotation):
        return
    retry_deletions(storage)
    if storage.meta.get("export_pending"):
        pending = list(annotations_pending(storage).select_related("task")[:PENDING_BATCH])
        if all([_attempt(storage, item) for item in pending]):
            _record(storage)  # export_pending as it now is


def remove_annotation(storage_id: int, annotation_id: int, task_id: int | None = None) -> None:
    """A deleted annotation: removed from ApertureDB when the storage deletes objects, and its task's image
    properties decided anew by the annotations left (in the same transaction)."""
    from .models import ApertureDBExportStorage

    storage = ApertureDBExportStorage.objects.filter(id=storage_id).first()
    if storage is None:
        return
    if not storage.can_delete_objects:
        try:
            storage.reapply_image_properties(task_id)
        except Exception as error:  # noqa: BLE001 - never let ApertureDB reach the annotator
            _record_failure(storage, annotation_id, error, "image properties after the deletion")
        return
    try:
        storage.delete_annotation_by_id(annotation_id, task_id)
    except Exception as error:  # noqa: BLE001 - never let ApertureDB reach the annotator
        _record_failure(storage, annotation_id, error, "delete")
        _change_pending_deletions(storage, lambda pending: sorted({*pending, annotation_id}))
        return
    retry_deletions(storage)


def retry_deletions(storage) -> None:
    """Deletions that failed earlier: the annotations are gone from Label Studio, so only this remembers them."""
    for annotation_id in list(storage.pending_deletions):
        try:
            storage.delete_annotation_by_id(annotation_id)
        except Exception:  # noqa: BLE001 - still pending; tried again next time
            return
        _change_pending_deletions(storage, lambda pending, done=annotation_id: [i for i in pending if i != done])


def _change_pending_deletions(storage, change) -> None:
    with transaction.atomic():
        current = type(storage).objects.select_for_update().only("id", "pending_deletions").get(id=storage.id)
        current.pending_deletions = change(list(current.pending_deletions or []))
        current.save(update_fields=["pending_deletions"])
    storage.pending_deletions = current.pending_deletions


def _attempt(storage, annotation) -> bool:
    """Write an annotation as it is now (:func:`settle`); False, recorded, when that failed."""
    outcome = settle(storage, [annotation], storage.write_now([annotation]))
    error = outcome.get(annotation.id)
    if error is not None:
        _record_failure(storage, annotation.id, error, "export")
        return False
    return True


def settle(storage, annotations: list[Annotation], outcome: dict[int, Exception | None]) -> dict[int, Exception | None]:
    """After a write of ``annotations`` (``outcome``: each one's error, None when written), make ApertureDB hold
    what Label Studio holds now; each annotation's final error (None: written as it is now), deleted ones left out.

    Two writes of one annotation (a submit's and an update's export in two workers, an export and a Sync, or one
    retried as pending) may end in either order, and the one that read the older version may write last. So the
    annotations are read again once written: one changed meanwhile is written again; one deleted meanwhile is
    removed as the deletion removes it (which may have run before this write). Whichever write ends last, its check
    sees the last version. The links of those written record the version written (:func:`mark_written`); one still
    changing after ``REWRITES`` writes keeps an older version there, so that the next export or Sync writes it."""
    from .models import mark_written

    final: dict[int, Exception | None] = {}
    for writes in range(1, REWRITES + 1):
        current = dict(Annotation.objects.filter(id__in=[a.id for a in annotations]).values_list("id", "updated_at"))
        written, changed = [], []
        for annotation in annotations:
            if annotation.id not in current:  # (recording the write would fail: no link to a deleted annotation)
                remove_annotation(storage.id, annotation.id, annotation.task_id)
                final.pop(annotation.id, None)
            elif outcome[annotation.id] is not None:
                final[annotation.id] = outcome[annotation.id]
            else:
                final[annotation.id] = None
                (written if current[annotation.id] == annotation.updated_at else changed).append(annotation)
        mark_written(storage, written)
        if not changed or writes == REWRITES:
            break
        annotations = list(Annotation.objects.filter(id__in=[a.id for a in changed]).select_related(
            "task", "completed_by"))
        outcome = storage.write_now(annotations)
    return final


def _record_failure(storage, annotation_id: int, error: Exception, action: str) -> None:
    message = f"{action} of annotation {annotation_id} failed: {error}"
    logger.warning("ApertureDB target storage %s: %s", storage.id, message)
    _record(storage, last_export_error=message, last_export_error_at=str(timezone.now()),
            export_failures=lambda meta: meta.get("export_failures", 0) + 1)


def _record(storage, **values) -> None:
    """Update ``meta`` against the locked current row, so that concurrent workers lose no counts.

    A callable value is applied to the current ``meta``.
    """
    with transaction.atomic():
        current = type(storage).objects.select_for_update().get(id=storage.id)
        meta = dict(current.meta or {})
        meta.update({key: value(meta) if callable(value) else value for key, value in values.items()})
        current.meta = meta
        current.save(update_fields=["meta"])
    storage.meta = current.meta


def annotations_pending(storage, annotations=None):
    """Of ``annotations`` (the project's when None), those ApertureDB does not hold as they are now: no link
    records their current ``updated_at`` as written. Equal, not at least: an update saved by a server whose clock
    is behind may carry an earlier time than the version before it."""
    from .models import ApertureDBExportStorageLink

    written = ApertureDBExportStorageLink.objects.filter(
        storage=storage, annotation=OuterRef("pk"), annotation_updated_at=OuterRef("updated_at")
    )
    if annotations is None:
        annotations = Annotation.objects.filter(project_id=storage.project_id)
    return annotations.exclude(Exists(written)).order_by("id")
