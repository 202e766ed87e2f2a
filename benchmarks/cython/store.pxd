# Declarations that Cython reads beside ls_storage/testing/store.py when a benchmark compiles the test server
# (benchmarks/compiled_test_server.py): the records, indexes and store as extension types, whose attributes are
# struct fields rather than slots looked up by name, and the methods a write calls for every record as C
# methods (cpdef), which the engine in commands.py calls without a Python call. store.py is compiled with
# annotation typing off, so that these untyped signatures match its annotated ones. The Python source runs
# without them.

cdef class PropertyIndex:
    cdef public object _sorted
    cdef public list _pending
    cdef public dict _equal
    cpdef add(self, value, seq)
    cpdef remove(self, value, seq)
    cpdef equal(self, value)

cdef class Obj:
    cdef public object seq, cls, blob, geometry, label, txn
    cdef public dict props

cdef class Link:
    cdef public object seq, cls, src, dst, txn
    cdef public dict props

cdef class Members:
    cdef public object _sorted, add
    cdef public list _added

cdef class Store:
    cdef public dict objects, links, by_class, links_by_class, indexes, _class_indexes
    cdef public object out_links, in_links
    cdef public object _seq, txn, _journal
    cdef dict __dict__
    cpdef add_object(self, cls, dict props, blob=*, geometry=*, label=*)
    cpdef _insert_object(self, Obj obj)
    cpdef add_link(self, cls, Obj src, Obj dst, dict props)
    cpdef _insert_link(self, Link link)
    cpdef dict class_indexes(self, index_type, cls)
    cpdef index_lookup(self, index_type, cls, key, values)

cpdef tuple sort_key(value)  # with the type ranks it reads as C globals: a call for each index entry
cpdef _index(dict keyed, seq, dict props, add)
cdef dict _TYPE_RANK, _RANK_OF_TYPE
