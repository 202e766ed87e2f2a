"""Syncing an ApertureDB source storage into tasks: bulk, idempotent, and in bounded memory.

Each page of images from ApertureDB is one database transaction: new images become tasks, links and
predictions in bulk; images whose data or regions changed get their task data and predictions
replaced; every image seen is stamped with the sync's run number. Images not stamped at the end of a
full sync are gone from ApertureDB or no longer match; their tasks are removed only when the storage
says so and they carry no annotations.

A sync after a full one reads only what ApertureDB created since (see ``_sync_changes``), and falls
back to reading everything whenever the counts say something else changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Iterator

from core.label_config import parse_config
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from fsm.functions import backfill_fsm_states_for_tasks
from rest_framework.exceptions import ValidationError
from tasks.models import Annotation, Prediction, Task

from ls_storage.client.connection import ApertureDBError
from ls_storage.client.source import (
    PAGE_SIZE,
    ImageRecord,
    ImageSelection,
    count_images,
    images_newly_connected,
    images_with_new_regions,
    iter_image_pages,
    latest_connection_created,
    latest_created,
    read_ahead,
)
from ls_storage.conversion.annotations import ConversionError, stored_results
from ls_storage.conversion.predictions import Conversion, ImageTargets, LabelConfigError, image_predictions, image_targets

from .bulk import insert_objects, insert_rows
from .models import ApertureDBImportStorageLink, image_uri

DATABASE_WAIT = 60  # seconds a sync that lost its database waits for it to answer again, to record the failure

@dataclass
class SyncCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    missing_kept: int = 0
    skipped_labels: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    annotations_imported: int = 0
    full: bool = False  # whether every image was read, or only what was created since the last sync

    def meta(self) -> dict:
        return {
            "tasks_created": self.created,
            "tasks_updated": self.updated,
            "tasks_existed": self.updated + self.unchanged,
            "tasks_removed": self.removed,
            "tasks_missing_kept": self.missing_kept,
            "regions_skipped": sum(self.skipped_labels.values()),
            "skipped_labels": dict(sorted(self.skipped_labels.items())),
            "annotations_imported": self.annotations_imported,
            "read_everything": self.full,
        }


@dataclass
class ImageTask:
    """What one image becomes in Label Studio; predictions as rows ready to insert."""

    key: str
    data: dict
    predictions: list[tuple[str, float | None, str]]  # (result as JSON, score, model version)
    digest: str
    record: ImageRecord


def image_task(storage, record: ImageRecord, targets: ImageTargets, skipped_labels: Counter) -> ImageTask:
    """``skipped_labels``: counts, by label, of the regions whose label the project lacks; added to."""
    # An image without a property takes its default, so that every task has the column.
    data = {**(storage.property_defaults or {}),
            **{name: value for name, value in record.properties.items() if value is not None}}
    data[targets.data_key] = image_uri(storage.id, record.uniqueid)
    conversion = (
        image_predictions(record.boxes, record.polygons, record.width, record.height, targets,
                          storage.prediction_properties())
        if storage.predictions else Conversion([], {})
    )
    skipped_labels.update(conversion.skipped_labels)
    # Each result is serialised once: for the database and for the digest that tells changes apart.
    rows = [(json.dumps(p["result"]), p.get("score"), p["model_version"]) for p in conversion.predictions]
    digest = hashlib.sha256(repr((sorted(data.items()), rows)).encode()).hexdigest()
    return ImageTask(record.uniqueid, data, rows, digest, record)


def sync_source_storage(storage) -> None:
    try:
        _sync_source_storage(storage)
    except DatabaseError:
        # The database went away mid-sync (a restart, a failover). Label Studio records the failure as the job ends,
        # through this process's connection, which is broken now: without a new one the storage would stay
        # in_progress until a stale-job check calls the job lost, for a reason it can only guess.
        if connection.connection is None or not connection.is_usable():
            _reconnect_database(DATABASE_WAIT)
        raise


def _reconnect_database(timeout: float) -> None:
    """Replace this thread's broken database connection with one that works, waiting up to ``timeout`` seconds
    for the database to answer again."""
    deadline = time.monotonic() + timeout
    while True:
        connection.close()
        try:
            connection.ensure_connection()
            return
        except DatabaseError:
            if time.monotonic() >= deadline:
                return
            time.sleep(1)


def _sync_source_storage(storage) -> None:
    storage.info_set_in_progress()
    project = storage.project
    try:
        targets = image_targets(parse_config(project.label_config))
    except LabelConfigError as error:
        raise ValidationError(str(error)) from None
    fingerprint = storage.settings_fingerprint(targets)
    previous, storage.sync_state = storage.sync_state, None  # an interrupted sync leaves a full one next
    storage.save(update_fields=["sync_state"])
    counts = SyncCounts()
    selection = storage.selection()
    try:
        state = _sync_changes(storage, selection, previous, fingerprint, targets, counts)
        if state is None:
            counts.full = True
            state = _sync_everything(storage, selection, targets, counts)
    except ApertureDBError as error:
        message = str(error)
        raise ValidationError(message if message.startswith("ApertureDB") else f"ApertureDB: {message}") from None
    _handle_missing(storage, storage.sync_run, counts)
    if state.created is not None and selection.tracks_changes:
        storage.sync_state = {"created": state.created, "images": state.images, "links": storage.links.count(),
                              "settings": fingerprint}
        storage.save(update_fields=["sync_state"])
    backfill_fsm_states_for_tasks(storage.id, counts.created, ApertureDBImportStorageLink)
    if counts.created or counts.removed:
        # A background job on Redis that, at 100k tasks, would hold up the worker's next sync for nothing.
        project.update_tasks_states(
            maximum_annotations_changed=False, overlap_cohort_percentage_changed=False, tasks_number_changed=True
        )
    if counts.errors:
        storage.info_set_completed_with_errors(counts.created, counts.errors, **counts.meta())
    else:
        storage.info_set_completed(last_sync_count=counts.created, **counts.meta())


@dataclass
class Seen:
    """What a sync saw: how many matching images, and the latest ``_create_txn`` (None: not known)."""

    images: int = 0
    created: int | None = 0


def _sync_everything(storage, selection: ImageSelection, targets: ImageTargets, counts: SyncCounts) -> Seen:
    storage.sync_run += 1
    storage.save(update_fields=["sync_run"])
    seen = _sync_pages(storage, selection, targets, counts)
    if selection.connected_to and seen.created is not None:
        # The mark passes the chosen datasets' connections too, or the next sync would take them for new ones.
        seen.created = latest_connection_created(storage.connector(), selection, seen.created)
    return seen


def _sync_changes(storage, selection: ImageSelection, previous: dict | None, fingerprint: str,
                  targets: ImageTargets, counts: SyncCounts) -> Seen | None:
    """Sync only what ApertureDB created since the last sync; None, before changing anything, when that
    cannot tell what changed and everything must be read.

    New images become tasks; images that gained boxes or polygons are read again. Deletions show in
    the counts: when the matching images are not the last sync's plus the new ones, or tasks were
    deleted in Label Studio, everything is read.
    """
    if storage.recheck_images or not previous or previous.get("settings") != fingerprint \
            or not selection.tracks_changes or storage.links.count() != previous["links"]:
        return None
    connector = storage.connector()
    since = previous["created"]
    total, added = count_images(connector, selection, since)
    connected, connected_created = images_newly_connected(connector, selection, since)
    if total != previous["images"] + added + len(connected):
        return None
    gained, created = images_with_new_regions(connector, selection, since)
    gained = sorted(gained)
    connected = sorted(connected)
    for start in range(0, len(connected), PAGE_SIZE):  # older images newly in a selected dataset: new tasks
        again = _sync_pages(storage, replace(selection, uniqueids=tuple(connected[start:start + PAGE_SIZE])), targets,
                            counts)
        created = latest_created([created, again.created])
    for start in range(0, len(gained), PAGE_SIZE):  # images with tasks read again; new ones come next
        chunk = storage.links.filter(key__in=gained[start:start + PAGE_SIZE]).values_list("key", flat=True)
        if chunk:
            again = _sync_pages(storage, replace(selection, uniqueids=tuple(chunk)), targets, counts)
            created = latest_created([created, again.created])
    seen = _sync_pages(storage, replace(selection, created_after=since), targets, counts)
    created = latest_created([since, created, seen.created, connected_created])
    # the images read again, and those not read at all
    counts.unchanged = total - added - len(connected) - counts.updated
    # Images created while this sync ran may be missing from the counts: then the next sync reads everything.
    return Seen(total, created if seen.images == added else None)


@dataclass
class ConvertedPage:
    records: list[ImageRecord]  # every image of the page, also those that could not become tasks
    tasks: list[ImageTask]
    skipped_labels: Counter


def _converted_pages(storage, connector, selection: ImageSelection, targets: ImageTargets) -> Iterator[ConvertedPage]:
    """Pages of images made into tasks; nothing here touches the database, so it runs ahead in a thread."""
    for page in iter_image_pages(connector, selection):
        skipped: Counter = Counter()
        tasks = [image_task(storage, record, targets, skipped) for record in page if not record.error]
        yield ConvertedPage(page, tasks, skipped)


def _sync_pages(storage, selection: ImageSelection, targets: ImageTargets, counts: SyncCounts) -> Seen:
    seen = Seen()
    # The next page is read and converted while this one is written. The connector is this thread's, logged
    # in already: the reading thread uses it alone until the pages are done.
    for page in read_ahead(_converted_pages(storage, storage.connector(), selection, targets)):
        for record in page.records:
            if record.error:
                counts.errors.append(f"ApertureDB image {record.uniqueid} was skipped: {record.error}")
        counts.skipped_labels.update(page.skipped_labels)
        _sync_page(storage, page.tasks, [record.uniqueid for record in page.records], storage.sync_run, counts)
        storage.info_update_progress(last_sync_count=counts.created, **counts.meta())
        seen.images += len(page.records)
        seen.created = latest_created([seen.created] + [record.created for record in page.records])
    return seen


def _sync_page(storage, image_tasks: list[ImageTask], seen: list[str], run: int, counts: SyncCounts) -> None:
    """``seen``: every image of the page, also those that could not become tasks (their tasks are not missing)."""
    project = storage.project
    keys = [item.key for item in image_tasks]
    with transaction.atomic():
        existing = {
            link.key: link
            for link in ApertureDBImportStorageLink.objects.select_for_update()
            .filter(storage=storage, key__in=keys).only("id", "key", "task_id", "digest")
        }
        new = [item for item in image_tasks if item.key not in existing]
        changed = [item for item in image_tasks if item.key in existing and existing[item.key].digest != item.digest]
        if new:
            _create_tasks(storage, project, new, run, counts)
        if changed:
            _update_tasks(project, changed, existing)
        created = {item.key for item in new}  # their links were made with this run's number
        stamped = [key for key in seen if key not in created]
        if stamped:
            ApertureDBImportStorageLink.objects.filter(storage=storage, key__in=stamped).update(sync_run=run)
    counts.created += len(new)
    counts.updated += len(changed)
    counts.unchanged += len(image_tasks) - len(new) - len(changed)


def _create_tasks(storage, project, items: list[ImageTask], run: int, counts: SyncCounts) -> None:
    first_inner_id = (project.tasks.aggregate(last=Max("inner_id"))["last"] or 0) + 1
    tasks = insert_objects(Task, [
        Task(project=project, data=item.data, overlap=project.maximum_annotations, inner_id=first_inner_id + i,
             total_predictions=len(item.predictions), is_labeled=False)
        for i, item in enumerate(items)
    ])
    if hasattr(project, "summary"):  # the Data Manager's data columns; bulk inserts send no post_save signal
        project.summary.update_data_columns(tasks)
    insert_objects(ApertureDBImportStorageLink, [
        ApertureDBImportStorageLink(task_id=task.id, key=item.key, storage=storage, digest=item.digest, sync_run=run)
        for task, item in zip(tasks, items)
    ])
    pairs = [(task.id, item) for task, item in zip(tasks, items)]
    _create_predictions(project, pairs)
    if storage.import_annotations:
        _import_annotations(project, pairs, counts)


PREDICTION_COLUMNS = ("result", "score", "model_version", "task_id", "project_id", "mislabeling", "created_at",
                      "updated_at")


def _create_predictions(project, pairs: list[tuple[int, ImageTask]]) -> None:
    """Predictions as plain rows: the results are JSON already, and the ORM would prepare every field of
    every row again."""
    now = timezone.now()
    insert_rows(Prediction, PREDICTION_COLUMNS,
                [(result, score, version, task_id, project.id, 0.0, now, now)
                 for task_id, item in pairs for result, score, version in item.predictions])


def _import_annotations(project, pairs: list[tuple[int, ImageTask]], counts: SyncCounts) -> None:
    """Annotations stored in ApertureDB by another project become annotations of the new tasks."""
    emails = {a.properties.get("LS_completed_by") for _, item in pairs for a in item.record.annotations}
    users = dict(project.organization.users.filter(email__in=emails - {None, ""}).values_list("email", "id"))
    annotations = []
    for task_id, item in pairs:
        for stored in item.record.annotations:
            if stored.properties.get("LS_project_id") == project.id:
                continue  # this project's own work, already here
            try:
                result = stored_results(stored.objects, item.record.width, item.record.height)
            except ConversionError as error:
                counts.errors.append(f"annotation {stored.properties.get('LS_id')} of image {item.key}: {error}")
                continue
            annotations.append(Annotation(
                task_id=task_id, project=project, result=result,
                completed_by_id=users.get(stored.properties.get("LS_completed_by"), project.created_by_id),
                was_cancelled=bool(stored.properties.get("LS_was_cancelled")),
                ground_truth=bool(stored.properties.get("LS_ground_truth")),
                lead_time=stored.properties.get("LS_lead_time"),
            ))
    if annotations:
        Annotation.objects.bulk_create(annotations)
        project.update_tasks_counters_and_is_labeled(Task.objects.filter(id__in={a.task_id for a in annotations}))
        counts.annotations_imported += len(annotations)


def _update_tasks(project, items: list[ImageTask], links: dict) -> None:
    task_ids = [links[item.key].task_id for item in items]
    # Deleting predictions first: Label Studio's delete signals recount the tasks' predictions.
    Prediction.objects.filter(task_id__in=task_ids).delete()
    tasks = {task.id: task for task in Task.objects.filter(id__in=task_ids).only("id", "data", "total_predictions")}
    for item in items:
        task = tasks[links[item.key].task_id]
        task.data = item.data
        task.total_predictions = len(item.predictions)
    Task.objects.bulk_update(list(tasks.values()), ["data", "total_predictions"])
    _create_predictions(project, [(links[item.key].task_id, item) for item in items])
    for item in items:
        links[item.key].digest = item.digest
    ApertureDBImportStorageLink.objects.bulk_update([links[item.key] for item in items], ["digest"])


def _handle_missing(storage, run: int, counts: SyncCounts) -> None:
    """Tasks of images this sync did not see: removed if allowed and unannotated, otherwise kept and counted."""
    missing = ApertureDBImportStorageLink.objects.filter(storage=storage).exclude(sync_run=run)
    if storage.remove_missing_tasks:
        removable = Task.objects.filter(
            id__in=missing.values("task_id"), total_annotations=0, cancelled_annotations=0
        ).exclude(annotations__isnull=False)
        counts.removed = removable.count()
        removable.delete()
    counts.missing_kept = missing.count()
