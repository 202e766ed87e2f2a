"""Root URLconf: the ApertureDB storage routes first, then Label Studio's own (which has unanchored patterns)."""

from core.urls import urlpatterns as label_studio_urlpatterns
from django.urls import include, path

urlpatterns = [
    path("api/storages/", include(("ls_storage.aperturedb.urls", "aperturedb"), namespace="aperturedb")),
] + label_studio_urlpatterns
