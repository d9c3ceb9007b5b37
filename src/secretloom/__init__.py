"""secretloom: many independently managed sources into one Kubernetes Secret.

Each writer owns exactly its keys through server-side apply field ownership;
conflicts are reported instead of fought. See docs/architecture.md.
"""

__version__ = "0.1.0"
