"""Resource models: the single source of truth for secretloom's CRDs.

Models are pydantic; `secretloom.api.crdgen` turns them into the CRD YAML in
deploy/crds/. Nothing here does I/O, so every other layer may import it.
"""
