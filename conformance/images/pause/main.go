// Command pause is skiff's build of the pod sandbox ("infra") process, shipped
// as registry.k8s.io/pause:<tag>. It behaves like upstream's build/pause
// (pause.c): it holds the pod's namespaces open, reaps orphaned children when
// it is PID 1, exits 0 on SIGINT/SIGTERM, and "-v" prints its version.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const version = "3.10.2"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Printf("pause.go %s\n", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", s)
			os.Exit(0)
		}
		for { // reap every exited child without blocking
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
