"""Trigger semantics in plain Python: no PyFlink import, explicit clocks, millisecond tests.

These functions are the specification. The Flink job compiles the same rules to JVM SQL, and the
integration tests compare its output with what these functions compute over the same events.
"""
