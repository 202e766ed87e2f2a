"""``python -m django run_storage_scheduler``: start the scheduled syncs and exports of ApertureDB storages.

Run one (more are safe: each due run is claimed under a row lock, but one is enough). Every ``--tick`` seconds it
starts the syncs (source storages' ``sync_interval``) and exports (targets' ``export_interval``) that are due: on RQ
when Label Studio has Redis (``LS_STORAGE_REDIS_URL``), inline otherwise. See ``ls_storage.aperturedb.scheduling``.
SIGTERM or SIGINT stops it after the pass under way (an inline run is finished first).
"""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from ls_storage.aperturedb.scheduling import MINUTE, logger, run_due


class Command(BaseCommand):
    help = "Start the scheduled syncs and exports of ApertureDB storages that are due, every --tick seconds."

    def add_arguments(self, parser):
        parser.add_argument("--tick", type=float, default=15.0,
                            help="seconds between looks for due runs (default 15)")
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--minute", type=float, default=MINUTE,
                            help="seconds an interval's minute lasts (default 60; shorter for tests only)")

    def handle(self, *args, tick: float, once: bool, minute: float, **options):
        if tick <= 0 or minute <= 0:
            raise CommandError("--tick and --minute must be above 0")
        if logger.level == logging.NOTSET:  # Label Studio's root logger shows warnings only
            logger.setLevel(logging.INFO)
        stopping = threading.Event()
        if not once:
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, lambda signum, frame: stopping.set())
        logger.info("scheduler started: a pass every %s s%s", tick,
                    "" if minute == MINUTE else f", {minute} s a minute")
        while True:
            try:
                run_due(minute=minute)
            except Exception:  # noqa: BLE001 - a database or Redis outage: try again next tick
                logger.exception("scheduler pass failed; trying again in %s s", tick)
                connections.close_all()
            if once or stopping.wait(tick):
                break
        logger.info("scheduler stopped")
