"""Risk profiling, officer controls, the hash-chained audit log, declaration drafts and e-locks.

The engine (``rules``, ``facts``, ``engine``, ``selection``, ``stats``) is pure Python over plain
dataclasses so it can be tested and benchmarked without a database; ``models``, ``service``,
``hooks`` and ``api`` wire it to the store and to gRPC.
"""
