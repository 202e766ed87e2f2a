"""Scheduled syncs and exports: the interval fields of the storages and the pass the scheduler makes.

A source storage's ``sync_interval`` and a target's ``export_interval`` are minutes between runs (0: never).
``python -m django run_storage_scheduler`` makes a pass every ``--tick`` seconds (:func:`run_due`):

- **Due** is ``next_sync_at <= now`` on a storage whose interval is above 0. The time lives in the storage's row,
  not in the process, so a restarted scheduler (or a second one) carries on where the last left off.
- **Claimed** under a row lock: the due rows are read with ``select_for_update(skip_locked=True)`` and their
  ``next_sync_at`` moved on before the lock is released, so no two schedulers start the same run; a row another
  holds is left to it.
- **Started** the way Label Studio's *Sync* button starts it (``ImportStorage.sync()``/``ExportStorage.sync()``):
  an RQ job on the "low" queue with Redis, inline in the scheduler without.
- **Never two at once**: a storage whose sync is still queued or in progress is not started again; that run is
  skipped and logged. Label Studio's own stale-job check (``health_check``, which its storage list runs too)
  first gets the chance to call a sync whose worker died failed, so a dead run does not block the schedule forever.
- **No burst after downtime**: the next run is one interval after the due time, or, when that has passed as well
  (the scheduler was down for several intervals), one interval from now: the missed runs become one.

Each run, skip and schedule change is logged on ``ls_storage.scheduler``. The next run shows in the API as
``next_sync_at`` and in the storage card's ``meta.next_sync_at`` (ISO 8601).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models, transaction
from django.utils import timezone
from rest_framework import serializers

logger = logging.getLogger("ls_storage.scheduler")

MAX_INTERVAL = 366 * 24 * 60  # minutes: a year (a leap year's)
MINUTE = 60.0  # seconds in an interval's minute; the scheduler's --minute shortens it, for tests only
BUSY = ("queued", "in_progress")


def _schedule_mixin(name: str, interval_field: str, what: str):
    """An abstract model mixin: ``interval_field`` (minutes between scheduled runs, 0: none) and ``next_sync_at``."""
    return type(name, (models.Model,), {
        "__module__": __name__,
        "__doc__": f"A storage whose {what} the scheduler runs every ``{interval_field}`` minutes.",
        "interval_field": interval_field,
        interval_field: models.PositiveIntegerField(
            interval_field.replace("_", " "), default=0, validators=[MaxValueValidator(MAX_INTERVAL)],
            help_text=f"Minutes between scheduled {what}s; 0: no scheduled {what}s"),
        "next_sync_at": models.DateTimeField(
            null=True, blank=True,
            help_text="When the scheduler starts the next run (none: off, or not scheduled yet)"),
        "Meta": type("Meta", (), {"abstract": True}),
    })


SyncScheduleMixin = _schedule_mixin("SyncScheduleMixin", "sync_interval", "sync")
ExportScheduleMixin = _schedule_mixin("ExportScheduleMixin", "export_interval", "export")


def interval_serializer_field(name: str):
    """The API's interval: a whole number of minutes from 0 (off) to a year; anything else a 400 naming it."""
    message = f"{name}: a whole number of minutes from 0 (off) to {MAX_INTERVAL} (a year)"
    return serializers.IntegerField(required=False, min_value=0, max_value=MAX_INTERVAL, error_messages={
        key: message for key in ("invalid", "min_value", "max_value", "max_string_length", "null")})


class ScheduleSerializerMixin:
    """``meta.next_sync_at`` in the answer; a changed interval is scheduled afresh (from the scheduler's next pass)."""

    def to_representation(self, instance):
        result = super().to_representation(instance)
        next_run = getattr(instance, "next_sync_at", None)
        result["meta"] = {**(result.get("meta") or {}), "next_sync_at": next_run.isoformat() if next_run else None}
        return result

    def update(self, instance, validated_data):
        name = instance.interval_field
        if name in validated_data and validated_data[name] != getattr(instance, name):
            validated_data["next_sync_at"] = None
        return super().update(instance, validated_data)


@dataclass
class Run:
    """What a pass did with one due storage."""

    storage: models.Model
    action: str  # "started", "skipped" (still busy) or "scheduled" (first seen: its first run set)
    next_sync_at: datetime


def scheduled_models():
    from .models import ApertureDBExportStorage, ApertureDBImportStorage

    return (ApertureDBImportStorage, ApertureDBExportStorage)


def describe(storage) -> str:
    kind = "source" if storage.interval_field == "sync_interval" else "target"
    return f"{kind} storage {storage.id} (project {storage.project_id})"


def next_run(due: datetime, interval: timedelta, now: datetime) -> datetime:
    """One interval after ``due``; one interval from now when that has passed too (missed runs are not made up)."""
    following = due + interval
    return following if following > now else now + interval


def run_due(now: datetime | None = None, minute: float = MINUTE) -> list[Run]:
    """One pass over every scheduled storage: schedules those seen for the first time, starts those due."""
    runs: list[Run] = []
    for model in scheduled_models():
        _turn_off(model)
        runs += _claim(model, now or timezone.now(), minute)
    for run in runs:
        if run.action == "started":
            _start(run)
    return runs


def _turn_off(model) -> None:
    """An interval set to 0 leaves no next run behind."""
    model.objects.filter(**{model.interval_field: 0}, next_sync_at__isnull=False).update(next_sync_at=None)


def _claim(model, now: datetime, minute: float) -> list[Run]:
    """The model's storages due (or not scheduled yet), locked, their next run moved on; released on return."""
    claimed = []
    with transaction.atomic():
        rows = (model.objects.select_for_update(skip_locked=True)
                .filter(**{f"{model.interval_field}__gt": 0})
                .filter(models.Q(next_sync_at__isnull=True) | models.Q(next_sync_at__lte=now))
                .order_by(models.F("next_sync_at").asc(nulls_first=True), "id"))
        for storage in rows:
            interval = timedelta(seconds=getattr(storage, model.interval_field) * minute)
            if storage.next_sync_at is None:
                action, storage.next_sync_at = "scheduled", now + interval
            else:
                action = "skipped" if _busy(storage) else "started"
                storage.next_sync_at = next_run(storage.next_sync_at, interval, now)
            storage.save(update_fields=["next_sync_at"])
            claimed.append(Run(storage, action, storage.next_sync_at))
    for run in claimed:
        if run.action == "scheduled":
            logger.info("%s: every %s min, first run at %s", describe(run.storage),
                        getattr(run.storage, model.interval_field), run.next_sync_at.isoformat())
        elif run.action == "skipped":
            logger.info("%s: run skipped, its last sync is still %s (job %s); next run at %s", describe(run.storage),
                        run.storage.status, run.storage.last_sync_job, run.next_sync_at.isoformat())
    return claimed


def _busy(storage) -> bool:
    """Whether the storage's sync is still queued or running, once Label Studio's stale-job check has had its say
    (after a grace period: a sync just queued by someone else may not have its job id yet)."""
    if storage.status not in BUSY:
        return False
    since = (storage.meta or {}).get("time_last_ping") or (storage.meta or {}).get("time_queued")
    grace = timedelta(seconds=settings.STORAGE_IN_PROGRESS_TIMER * 5)
    try:
        stale = since is None or timezone.now() - datetime.fromisoformat(since) > grace
    except (TypeError, ValueError):
        stale = True
    if stale:
        storage.health_check()
    return storage.status in BUSY


def _start(run: Run) -> None:
    """Start the run as Label Studio's *Sync* does: queued on RQ with Redis, inline without."""
    storage = run.storage
    started = timezone.now()
    try:
        storage.sync()
    except Exception:  # noqa: BLE001 - one storage's failure must not stop the scheduler
        logger.exception("%s: the scheduled run could not be started", describe(storage))
        return
    storage.refresh_from_db(fields=["status", "last_sync_job", "last_sync_count"])
    if storage.status in BUSY:
        logger.info("%s: run %s (job %s); next run at %s", describe(storage), storage.status, storage.last_sync_job,
                    run.next_sync_at.isoformat())
    else:
        logger.info("%s: run ran inline in %.1f s: %s, %s; next run at %s", describe(storage),
                    (timezone.now() - started).total_seconds(), storage.status, storage.last_sync_count,
                    run.next_sync_at.isoformat())
