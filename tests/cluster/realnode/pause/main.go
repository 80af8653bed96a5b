// Command pause is the process of every pod sandbox on the local cluster's real
// node (tests/cluster/realnode.sh), in the role of registry.k8s.io/pause, built
// here so that no registry is needed. It holds the pod's namespaces, reaps
// orphaned children (it is PID 1 of a shared PID namespace) and exits on
// SIGINT or SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
