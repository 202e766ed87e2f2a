"""REST endpoints of the ApertureDB storages: Label Studio's generic storage views, bound to our models."""

from io_storages.api import (
    ExportStorageDetailAPI,
    ExportStorageFormLayoutAPI,
    ExportStorageListAPI,
    ExportStorageSyncAPI,
    ExportStorageValidateAPI,
    ImportStorageDetailAPI,
    ImportStorageFormLayoutAPI,
    ImportStorageListAPI,
    ImportStorageSyncAPI,
    ImportStorageValidateAPI,
)

from .models import ApertureDBExportStorage, ApertureDBImportStorage
from .serializers import ApertureDBExportStorageSerializer, ApertureDBImportStorageSerializer


class ApertureDBImportStorageListAPI(ImportStorageListAPI):
    queryset = ApertureDBImportStorage.objects.all()
    serializer_class = ApertureDBImportStorageSerializer


class ApertureDBImportStorageDetailAPI(ImportStorageDetailAPI):
    queryset = ApertureDBImportStorage.objects.all()
    serializer_class = ApertureDBImportStorageSerializer


class ApertureDBImportStorageSyncAPI(ImportStorageSyncAPI):
    serializer_class = ApertureDBImportStorageSerializer


class ApertureDBImportStorageValidateAPI(ImportStorageValidateAPI):
    serializer_class = ApertureDBImportStorageSerializer


class ApertureDBImportStorageFormLayoutAPI(ImportStorageFormLayoutAPI):
    pass


class ApertureDBExportStorageListAPI(ExportStorageListAPI):
    queryset = ApertureDBExportStorage.objects.all()
    serializer_class = ApertureDBExportStorageSerializer


class ApertureDBExportStorageDetailAPI(ExportStorageDetailAPI):
    queryset = ApertureDBExportStorage.objects.all()
    serializer_class = ApertureDBExportStorageSerializer


class ApertureDBExportStorageSyncAPI(ExportStorageSyncAPI):
    serializer_class = ApertureDBExportStorageSerializer


class ApertureDBExportStorageValidateAPI(ExportStorageValidateAPI):
    serializer_class = ApertureDBExportStorageSerializer


class ApertureDBExportStorageFormLayoutAPI(ExportStorageFormLayoutAPI):
    pass
