"""The child's isolation layers (namespaces, filesystem, rlimits, seccomp, Landlock, ...).

A regular package so that the import contracts (pyproject.toml) see its modules' imports as
theirs, not as the ``sandbox`` package's.
"""
