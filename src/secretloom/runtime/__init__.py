"""The controller runtime: API client, informers, work queue, leader election, reconcile loop.

Modelled on controller-runtime/client-go: level-triggered reconcilers that read
from an informer cache and write with server-side apply. Knows nothing about
any particular resource kind beyond the core ones it needs (Secrets, Leases,
Events); `resources` also names secretloom's own kinds (from `api`) so that
every layer finds every kind's REST path in one place.
"""
