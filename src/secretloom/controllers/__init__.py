"""One reconciler per resource kind, each a thin shell around pure planning functions."""
