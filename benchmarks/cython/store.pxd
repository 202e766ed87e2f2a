# Declarations that Cython reads beside ls_storage/testing/store.py when a benchmark compiles the test server
# (benchmarks/compiled_test_server.py): the records and indexes as extension types, whose attributes are
# struct fields rather than slots looked up by name. The Python source is unchanged and runs without them.

cdef class PropertyIndex:
    cdef public object _sorted, _pending, _equal

cdef class Obj:
    cdef public object seq, cls, props, blob, geometry, label, txn

cdef class Link:
    cdef public object seq, cls, src, dst, props, txn

cdef class Members:
    cdef public object _sorted, _added, add

cdef class Store:
    cdef public object objects, links, by_class, links_by_class, out_links, in_links, indexes, _class_indexes
    cdef public object _seq, txn, _journal
    cdef dict __dict__
