package garbagecollector

import "k8s.io/utils/lru"

// referenceCache remembers owners the API server said do not exist, so
// that the dependents of one deleted owner are collected without asking
// about it again for each. Bounded: the oldest entries fall out.
type referenceCache struct {
	cache *lru.Cache
}

func newReferenceCache(size int) *referenceCache {
	return &referenceCache{cache: lru.New(size)}
}

// Add records ref as absent.
func (c *referenceCache) Add(ref objectReference) {
	c.cache.Add(ref, nil)
}

// Has reports whether ref is known to be absent.
func (c *referenceCache) Has(ref objectReference) bool {
	_, ok := c.cache.Get(ref)
	return ok
}
