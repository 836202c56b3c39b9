// Command etcd is go.etcd.io/etcd's server entry point, built from the module
// pinned by k8s.io/kubernetes so the local clusters run the etcd it was tested with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
