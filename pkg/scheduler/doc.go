// Package scheduler is skiff's kube-scheduler: a scheduling queue with
// event-driven requeueing, a cache of nodes and assumed pods, and a framework
// of plugins (pkg/scheduler/plugins/<name>) that filter and score nodes,
// preempt lower-priority pods and bind through pods/binding.
//
// Its behaviour, messages and configuration (KubeSchedulerConfiguration v1)
// follow upstream's kube-scheduler v1.37; the code is skiff's own. Like every
// skiff role it reaches the cluster only through the API server.
package scheduler
