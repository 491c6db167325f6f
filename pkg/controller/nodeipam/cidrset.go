package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
)

// errNoCIDRsRemaining is upstream's message when the cluster CIDR is full.
var errNoCIDRsRemaining = errors.New("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")

// maxSubnetBits bounds the bitmap: a node mask at most 16 bits longer
// than the cluster mask (upstream's limit).
const maxSubnetBits = 16

// cidrSet hands out the node-sized subnets of a cluster CIDR, round-robin
// from after the last one allocated (as upstream's range allocator), so
// that a released subnet is not reused at once.
type cidrSet struct {
	mu        sync.Mutex
	base      *big.Int // the cluster network address
	addrBits  int      // 32 or 128
	nodeMask  int
	max       int
	allocated int
	next      int
	used      big.Int
}

func newCIDRSet(cluster *net.IPNet, nodeMask int) (*cidrSet, error) {
	clusterMask, bits := cluster.Mask.Size()
	if nodeMask < clusterMask {
		return nil, fmt.Errorf("node CIDR mask size %d is shorter than the cluster CIDR %s", nodeMask, cluster)
	}
	if nodeMask-clusterMask > maxSubnetBits {
		return nil, fmt.Errorf("New CIDR set failed; the node CIDR size is too big: /%d is more than %d bits longer than %s", nodeMask, maxSubnetBits, cluster)
	}
	if nodeMask > bits {
		return nil, fmt.Errorf("node CIDR mask size %d is too long for %s", nodeMask, cluster)
	}
	return &cidrSet{
		base:     new(big.Int).SetBytes(ipBytes(cluster.IP, bits)),
		addrBits: bits,
		nodeMask: nodeMask,
		max:      1 << (nodeMask - clusterMask),
	}, nil
}

func ipBytes(ip net.IP, bits int) []byte {
	if bits == 32 {
		return ip.To4()
	}
	return ip.To16()
}

// subnet is the index-th node subnet.
func (s *cidrSet) subnet(index int) *net.IPNet {
	n := new(big.Int).Lsh(big.NewInt(int64(index)), uint(s.addrBits-s.nodeMask))
	n.Add(n, s.base)
	b := n.FillBytes(make([]byte, s.addrBits/8))
	return &net.IPNet{IP: net.IP(b), Mask: net.CIDRMask(s.nodeMask, s.addrBits)}
}

// index is the position of a node subnet in the set, or an error if it is
// not one of its subnets.
func (s *cidrSet) index(cidr *net.IPNet) (int, error) {
	ones, bits := cidr.Mask.Size()
	if bits != s.addrBits || ones != s.nodeMask {
		return 0, fmt.Errorf("%s is not a /%d of the cluster CIDR", cidr, s.nodeMask)
	}
	n := new(big.Int).SetBytes(ipBytes(cidr.IP, bits))
	n.Sub(n, s.base)
	if n.Sign() < 0 {
		return 0, fmt.Errorf("%s is outside the cluster CIDR", cidr)
	}
	n.Rsh(n, uint(s.addrBits-s.nodeMask))
	if !n.IsInt64() || n.Int64() >= int64(s.max) {
		return 0, fmt.Errorf("%s is outside the cluster CIDR", cidr)
	}
	return int(n.Int64()), nil
}

// allocateNext returns the next free subnet.
func (s *cidrSet) allocateNext() (*net.IPNet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.allocated == s.max {
		return nil, errNoCIDRsRemaining
	}
	c := s.next
	for s.used.Bit(c) == 1 {
		c = (c + 1) % s.max
	}
	s.next = (c + 1) % s.max
	s.used.SetBit(&s.used, c, 1)
	s.allocated++
	return s.subnet(c), nil
}

// occupy marks a subnet a node already has as used.
func (s *cidrSet) occupy(cidr *net.IPNet) error {
	i, err := s.index(cidr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used.Bit(i) == 0 {
		s.used.SetBit(&s.used, i, 1)
		s.allocated++
	}
	return nil
}

// release frees a subnet.
func (s *cidrSet) release(cidr *net.IPNet) error {
	i, err := s.index(cidr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used.Bit(i) == 1 {
		s.used.SetBit(&s.used, i, 0)
		s.allocated--
	}
	return nil
}
