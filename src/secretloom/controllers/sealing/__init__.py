"""The controller's sealing keys: kept, renewed, imported, published (issue #13)."""
