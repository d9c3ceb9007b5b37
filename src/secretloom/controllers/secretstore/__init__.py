"""Secret stores: finding the store an entry names, scoping it, and keeping its clients.

`lookup` resolves a store reference from the caches and applies the scoping
rule (`scope`); `clients` builds provider clients with readers pinned to the
store's credential namespace (`context`) and pools them per store;
`reconciler` validates each store and reports its Ready condition.
"""
