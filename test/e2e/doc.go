// Package e2e holds skiff's end-to-end tests: each starts the real skiff
// binary (SKIFF_BIN) on loopback and drives it with kubectl and client-go.
// They run with `make e2e` (build tag e2e).
package e2e
