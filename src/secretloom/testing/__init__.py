"""Local test infrastructure: a real control plane and real peer servers.

Nothing here is a fake. `cluster` runs etcd, kube-apiserver and
kube-controller-manager built from their Go modules; `openbao` runs a real
OpenBao server; `tools` locates pinned peer binaries. Production code never
imports this package (a layer contract enforces it); the CLI and the tests do.
"""
