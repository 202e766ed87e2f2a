"""Root URLconf: the ApertureDB storage routes and the file resolver (Label Studio's own resolver views with
the media scope of ``ls_storage.aperturedb.api``) first, then Label Studio's own (which has unanchored patterns)."""

from core.urls import urlpatterns as label_studio_urlpatterns
from django.urls import include, path

from ls_storage.aperturedb.urls import resolver_urlpatterns

urlpatterns = [
    path("api/storages/", include(("ls_storage.aperturedb.urls", "aperturedb"), namespace="aperturedb")),
    *resolver_urlpatterns,
] + label_studio_urlpatterns
