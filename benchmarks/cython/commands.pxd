# Declarations that Cython reads beside ls_storage/testing/commands.py when a benchmark compiles the test server
# (benchmarks/compiled_test_server.py): a query's Transaction as an extension type holding a typed Store, so
# that the handlers' ``tx.store.add_object(...)`` and the like are C calls into store.py's cpdef methods
# (benchmarks/cython/store.pxd), and the helpers every add calls as C functions. The signatures follow
# commands.py's annotations, which Cython reads there.

from ls_storage.testing.store cimport Obj, Store

cdef class Transaction:
    cdef public Store store
    cdef public list blobs
    cdef public object next_blob
    cdef public dict refs
    cdef public list out_blobs
    cpdef bytes take_blob(self, str where)
    cpdef bind(self, dict params, list records, str where)
    cpdef list lookup(self, ref, str where, str name=*)

cpdef dict _add(Transaction tx, dict params, str where, str cls, make, bint takes_blob=*)
cpdef dict _properties(dict params, str where, str key=*)
cpdef list _existing(Transaction tx, condition, str cls, str where)
cpdef _connect(Transaction tx, spec, Obj obj, str where)
cpdef Obj _single_image(Transaction tx, dict params, str where)
cpdef Obj _region_on_image(Transaction tx, dict params, str where, dict props, str cls, str link_class, geometry)
cpdef tuple _rectangle(value, str where)
cpdef str _label(dict params, str where)
