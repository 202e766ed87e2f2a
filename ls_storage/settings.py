"""Django settings: stock Label Studio with the ApertureDB storage plugged in.

Use with ``DJANGO_SETTINGS_MODULE=ls_storage.settings label-studio start``. Nothing in Label Studio's
installed files is changed.
"""

import os
import sys

import label_studio

# Label Studio's code imports its apps as top-level packages (core, io_storages, tasks, ...).
_LABEL_STUDIO_DIR = os.path.dirname(label_studio.__file__)
if _LABEL_STUDIO_DIR not in sys.path:
    sys.path.insert(0, _LABEL_STUDIO_DIR)

# Stock Label Studio asks pypi.org for its latest version whenever its settings load (a request with a 10 s
# timeout, in every server and worker process); these often run where that can only hang. LATEST_VERSION_CHECK=true
# turns it back on.
os.environ.setdefault("LATEST_VERSION_CHECK", "false")

# The stock settings initialise Sentry while they import, which reads django.conf.settings: point
# Django at the stock module for that import, then let it read this module on next access.
_requested_settings = os.environ.get("DJANGO_SETTINGS_MODULE")
os.environ["DJANGO_SETTINGS_MODULE"] = "core.settings.label_studio"
from core.settings.label_studio import *  # noqa: E402,F401,F403

os.environ["DJANGO_SETTINGS_MODULE"] = _requested_settings or __name__
from django.conf import settings as _django_settings  # noqa: E402
from django.utils.functional import empty as _empty  # noqa: E402

_django_settings._wrapped = _empty

INSTALLED_APPS = INSTALLED_APPS + ["ls_storage.aperturedb"]  # noqa: F405
ROOT_URLCONF = "ls_storage.urls"
MIDDLEWARE = ["ls_storage.aperturedb.api.ImageCacheKeyMiddleware"] + MIDDLEWARE  # noqa: F405
GET_STORAGE_LIST = "ls_storage.aperturedb.registry.get_storage_list"
# The Data Manager's "storage filename" column and Task.get_storage_link() find our link by name.
IO_STORAGES_IMPORT_LINK_NAMES = IO_STORAGES_IMPORT_LINK_NAMES + [  # noqa: F405
    "io_storages_aperturedb_aperturedbimportstoragelink"
]

# Open-source Label Studio hard-codes REDIS_ENABLED = False, so syncs run inside the HTTP request.
# LS_STORAGE_REDIS_URL=redis://host:port/db turns on RQ: syncs and exports then run in workers
# (``python -m django rqworker low default`` with these settings).
_redis_url = os.environ.get("LS_STORAGE_REDIS_URL")
if _redis_url:
    REDIS_ENABLED = True
    RQ_QUEUES = {
        name: {"URL": _redis_url, "DEFAULT_TIMEOUT": queue.get("DEFAULT_TIMEOUT", 180)}
        for name, queue in RQ_QUEUES.items()  # noqa: F405
    }

# The storage settings UI. Label Studio's frontend has two: a newer one whose provider list is compiled
# into its JavaScript bundle (so it cannot show a plugin's storage type), and the older one built from
# GET /api/storages/types and each type's form_layout.yml. The bundle forces the newer one whenever the
# frontend's Sentry environment is exactly "opensource"; otherwise it follows the feature flag
# fflag_feat_bros_193_new_cloud_storage_providers_short, which is off. Renaming that environment is the
# one switch outside Label Studio's files, and leaves the choice with Label Studio's own flag system.
if FRONTEND_SENTRY_ENVIRONMENT == "opensource":  # noqa: F405
    FRONTEND_SENTRY_ENVIRONMENT = "opensource-aperturedb"

# How long a browser keeps an ApertureDB image from the resolver without asking again (seconds; Cache-Control:
# private, max-age); by default the hour Label Studio's own resolver gives (RESOLVER_PROXY_CACHE_TIMEOUT). 0: the
# browser keeps it but asks every time, and the 304 it gets checks access again. ApertureDB never changes an image's
# bytes under the same _uniqueid; a cached copy stays with its user for the lifetime after they lose access, as any
# download would. Such an answer does not vary by the session cookie, which Label Studio re-signs on every request
# (see ImageCacheKeyMiddleware): another user signing in to the same browser profile could be shown a cached image
# of a URL they open within the lifetime.
LS_STORAGE_MEDIA_MAX_AGE = int(os.environ.get("LS_STORAGE_MEDIA_MAX_AGE", RESOLVER_PROXY_CACHE_TIMEOUT))  # noqa: F405
if LS_STORAGE_MEDIA_MAX_AGE < 0:
    raise ValueError(f"LS_STORAGE_MEDIA_MAX_AGE must be a number of seconds, not {LS_STORAGE_MEDIA_MAX_AGE}")
