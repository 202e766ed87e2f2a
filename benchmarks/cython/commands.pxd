# Declarations that Cython reads beside ls_storage/testing/commands.py when a benchmark compiles the test server
# (benchmarks/compiled_test_server.py): a query's Transaction as an extension type holding a typed Store, so
# that the handlers' ``tx.store.add_object(...)`` and the like are C calls into store.py's cpdef methods
# (benchmarks/cython/store.pxd). The signatures follow commands.py's annotations, which Cython reads there.

from ls_storage.testing.store cimport Store

cdef class Transaction:
    cdef public Store store
    cdef public list blobs
    cdef public object next_blob
    cdef public dict refs
    cdef public list out_blobs
    cpdef bytes take_blob(self, str where)
    cpdef bind(self, dict params, list records, str where)
    cpdef list lookup(self, ref, str where, str name=*)
