"""REST endpoints of the ApertureDB storages: Label Studio's generic storage views, bound to our models; and
Label Studio's file resolver with HEAD and sturdier Range handling."""

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

from io_storages.proxy_api import ProjectResolveStorageUri, TaskResolveStorageUri

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
