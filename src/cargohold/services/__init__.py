"""Use cases of the registry, independent of HTTP."""
