"""The ground floor every engine stands on: distance kernels, heaps and selection, input checks,
atomic writes, the index directory format, CPU counts.
"""
