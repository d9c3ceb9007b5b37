// Command etcd runs the upstream etcd server unchanged, at the version the
// wrapped Kubernetes release pins (Debian's etcd is too old for it).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
