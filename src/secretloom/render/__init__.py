"""`secretloom render`: an application directory to multi-document YAML, with
SOPS files decrypted and `ref+…`/`<path:…>` references resolved.

Built to run as an Argo CD Config Management Plugin (see docs/render.md):
`argocd` detects the kind of app (`app`), runs helm or kustomize without a
shell (`tools`), resolves references concurrently through backends
(`refs`, `backends`, `stores`) and substitutes them in place (`substitute`).

Safety properties, each with a test: no path escapes the app directory
(`paths`); decrypted values files live only in a private temp dir removed on
every exit (`tempdir`); errors name a reference or file, never a value; all
settings that widen access (namespaces, env variables, stores) come from the
plugin's own command line, never from the app's ARGOCD_ENV_* parameters.
"""
