// Package controller holds skiff's controllers, one package each
// (pkg/controller/<name>). Every controller reads through client-go shared
// informers, keeps a rate-limited workqueue of keys and reconciles one key
// at a time with an idempotent, level-based syncHandler. They are assembled
// and started by pkg/controllermanager.
package controller
