"""ApertureDB's query language over the in-memory store: one handler per command, grouped by object family.

``engine`` runs a query as one atomic transaction; ``parameters`` reads each command's parameters;
``finding`` is what every Find shares (candidates, constraints, sorting, paging, results); ``writing`` what
adds, updates and deletes share. Each family's commands are in one module: ``schema`` (status, schema,
indexes), ``entities``, ``media`` (images, blobs), ``regions`` (bounding boxes, polygons), ``connections``
and ``unstored`` (the object types the test server cannot hold). Importing a module registers its commands.
"""

from . import connections, entities, media, regions, schema, unstored  # noqa: F401  (registers the commands)
from .engine import COMMANDS, Engine, error_answer

__all__ = ["COMMANDS", "Engine", "error_answer"]
