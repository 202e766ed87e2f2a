"""Routes under /api/storages/, shaped like Label Studio's own io_storages/urls.py; and ``resolver_urlpatterns``,
Label Studio's file resolver routes with :mod:`.api`'s resolver views, for the root URLconf to put before Label
Studio's own."""

from django.urls import path

from . import api
from .serializers import ApertureDBImportStorageSerializer

urlpatterns = [
    path("aperturedb/", api.ApertureDBImportStorageListAPI.as_view(), name="storage-aperturedb-list"),
    path("aperturedb/<int:pk>", api.ApertureDBImportStorageDetailAPI.as_view(), name="storage-aperturedb-detail"),
    path("aperturedb/<int:pk>/sync", api.ApertureDBImportStorageSyncAPI.as_view(), name="storage-aperturedb-sync"),
    path("aperturedb/validate", api.ApertureDBImportStorageValidateAPI.as_view(), name="storage-aperturedb-validate"),
    path("aperturedb/form", api.ApertureDBImportStorageFormLayoutAPI.as_view(), name="storage-aperturedb-form"),
    path(
        "aperturedb/files",
        api.ApertureDBImportStorageListFilesAPI().as_view(serializer_class=ApertureDBImportStorageSerializer),
        name="storage-aperturedb-list-files",
    ),
    path("export/aperturedb", api.ApertureDBExportStorageListAPI.as_view(), name="export-storage-aperturedb-list"),
    path("export/aperturedb/<int:pk>", api.ApertureDBExportStorageDetailAPI.as_view(),
         name="export-storage-aperturedb-detail"),
    path("export/aperturedb/<int:pk>/sync", api.ApertureDBExportStorageSyncAPI.as_view(),
         name="export-storage-aperturedb-sync"),
    path("export/aperturedb/validate", api.ApertureDBExportStorageValidateAPI.as_view(),
         name="export-storage-aperturedb-validate"),
    path("export/aperturedb/form", api.ApertureDBExportStorageFormLayoutAPI.as_view(),
         name="export-storage-aperturedb-form"),
]

resolver_urlpatterns = [
    path("tasks/<int:task_id>/resolve/", api.TaskResolveAPI.as_view(), name="aperturedb-task-resolve"),
    path("projects/<int:project_id>/resolve/", api.ProjectResolveAPI.as_view(), name="aperturedb-project-resolve"),
]
