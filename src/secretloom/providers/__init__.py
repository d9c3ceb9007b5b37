"""Secret providers: one protocol module, one module per provider.

`protocol` defines what a provider is and the errors it may raise; `registry`
finds providers by name. Providers never import controllers.
"""
