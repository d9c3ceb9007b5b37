"""Files of the source checkout that the demo and the local control plane read, in a wheel too.

`secretloom demo` applies `examples/argocd-notifications*/`, and `secretloom cluster up`
builds the control plane with `hack/build-controlplane.sh` and the Go wrapper modules beside
it. Resolved against the repository root (`parents[3]` of this file), those paths exist only
in a source checkout: from an installed wheel they pointed into site-packages' parent and
every such command failed outside a checkout. The wheel therefore carries copies under
`secretloom/testing/_checkout/`, laid out as in the repository (hatch `force-include` in
pyproject.toml, the single list of what is carried); a checkout (an editable install) has no
such directory and reads the repository's own files.

Trade-off: two places to look instead of one, in exchange for one source of truth per file
(nothing is copied into `src/` by hand, so nothing can drift) and a wheel that runs every
command it ships. Both build scripts key their caches by their own content, so the wheel's
copy and the checkout share one warm control-plane cache.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "_checkout"
_CHECKOUT = Path(__file__).resolve().parents[3]


def path(relative: str) -> Path:
    """A repository path such as `examples/x`: the wheel's copy, else the checkout's."""
    packaged = _PACKAGED / relative
    return packaged if packaged.exists() else _CHECKOUT / relative
