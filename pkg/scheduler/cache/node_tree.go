package cache

import (
	"slices"

	v1 "k8s.io/api/core/v1"
	utilnode "k8s.io/component-helpers/node/topology"
)

// nodeTree groups node names by zone so that the snapshot lists nodes
// round-robin across zones: a scheduler that stops after enough feasible
// nodes then still sees every zone.
type nodeTree struct {
	tree     map[string][]string
	zones    []string
	numNodes int
}

func newNodeTree() *nodeTree { return &nodeTree{tree: map[string][]string{}} }

func (nt *nodeTree) addNode(n *v1.Node) {
	zone := utilnode.GetZoneKey(n)
	if names, ok := nt.tree[zone]; ok {
		if slices.Contains(names, n.Name) {
			return
		}
		nt.tree[zone] = append(names, n.Name)
	} else {
		nt.zones = append(nt.zones, zone)
		nt.tree[zone] = []string{n.Name}
	}
	nt.numNodes++
}

func (nt *nodeTree) removeNode(n *v1.Node) {
	zone := utilnode.GetZoneKey(n)
	names := nt.tree[zone]
	for i, name := range names {
		if name == n.Name {
			nt.tree[zone] = append(names[:i], names[i+1:]...)
			if len(nt.tree[zone]) == 0 {
				delete(nt.tree, zone)
				nt.zones = slices.DeleteFunc(nt.zones, func(z string) bool { return z == zone })
			}
			nt.numNodes--
			return
		}
	}
}

func (nt *nodeTree) updateNode(old, n *v1.Node) {
	if old != nil && utilnode.GetZoneKey(old) == utilnode.GetZoneKey(n) {
		return
	}
	if old != nil {
		nt.removeNode(old)
	}
	nt.addNode(n)
}

// list returns the node names, one from each zone in turn.
func (nt *nodeTree) list() []string {
	out := make([]string, 0, nt.numNodes)
	for i := 0; len(out) < nt.numNodes; i++ {
		progressed := false
		for _, z := range nt.zones {
			if names := nt.tree[z]; i < len(names) {
				out = append(out, names[i])
				progressed = true
			}
		}
		if !progressed {
			break
		}
	}
	return out
}
