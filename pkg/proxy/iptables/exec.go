package iptables

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	goiptables "github.com/coreos/go-iptables/iptables"
	v1 "k8s.io/api/core/v1"
)

// Interface is what the proxier needs from iptables: single commands for
// setting up chains and jumps (go-iptables), and one bulk restore for the
// rule set, as one iptables command per rule would take minutes for
// thousands of rules.
type Interface interface {
	// EnsureChain creates the chain if it does not exist.
	EnsureChain(table, chain string) error
	// EnsureRuleFirst inserts the rule at the top of the chain unless it is
	// already there.
	EnsureRuleFirst(table, chain string, rule ...string) error
	// DeleteRule deletes the rule if it exists.
	DeleteRule(table, chain string, rule ...string) error
	// ChainExists reports whether the chain exists.
	ChainExists(table, chain string) (bool, error)
	// DeleteChain flushes and deletes the chain if it exists.
	DeleteChain(table, chain string) error
	// ListChains lists the chains of a table.
	ListChains(table string) ([]string, error)
	// Restore applies iptables-restore input without flushing the tables
	// (only the chains it names are replaced).
	Restore(data []byte) error
	// IPv6 reports whether this is ip6tables.
	IPv6() bool
}

// nftRunner drives the nf_tables backend of iptables (iptables-nft). The
// legacy backend is never used: on a host where both exist, rules in the
// legacy tables would be invisible to nft tools and the other way round.
type nftRunner struct {
	ipt         *goiptables.IPTables
	restorePath string
	ipv6        bool
}

// NewRunner finds iptables-nft (or ip6tables-nft) and its restore command.
func NewRunner(family v1.IPFamily) (Interface, error) {
	base, proto := "iptables", goiptables.ProtocolIPv4
	if family == v1.IPv6Protocol {
		base, proto = "ip6tables", goiptables.ProtocolIPv6
	}
	path, err := exec.LookPath(base + "-nft")
	if err != nil {
		// Some distributions ship only the nft variant under the plain name.
		if path, err = exec.LookPath(base); err != nil {
			return nil, fmt.Errorf("find %s: %w", base, err)
		}
		out, verr := exec.Command(path, "--version").CombinedOutput()
		if verr != nil {
			return nil, fmt.Errorf("%s --version: %w", path, verr)
		}
		if !strings.Contains(string(out), "nf_tables") {
			return nil, fmt.Errorf("%s is %q: the proxy needs the nf_tables backend (iptables-nft)", path, strings.TrimSpace(string(out)))
		}
	}
	restore, err := exec.LookPath(base + "-nft-restore")
	if err != nil {
		if restore, err = exec.LookPath(base + "-restore"); err != nil {
			return nil, fmt.Errorf("find %s-restore: %w", base, err)
		}
	}
	ipt, err := goiptables.New(goiptables.IPFamily(proto), goiptables.Path(path))
	if err != nil {
		return nil, fmt.Errorf("set up %s: %w", path, err)
	}
	return &nftRunner{ipt: ipt, restorePath: restore, ipv6: family == v1.IPv6Protocol}, nil
}

func (r *nftRunner) IPv6() bool { return r.ipv6 }

func (r *nftRunner) EnsureChain(table, chain string) error {
	ok, err := r.ipt.ChainExists(table, chain)
	if err != nil {
		return fmt.Errorf("check chain %s/%s: %w", table, chain, err)
	}
	if ok {
		return nil
	}
	if err := r.ipt.NewChain(table, chain); err != nil {
		// Lost a race with another writer: fine if it exists now.
		if ok, _ := r.ipt.ChainExists(table, chain); ok {
			return nil
		}
		return fmt.Errorf("create chain %s/%s: %w", table, chain, err)
	}
	return nil
}

func (r *nftRunner) EnsureRuleFirst(table, chain string, rule ...string) error {
	ok, err := r.ipt.Exists(table, chain, rule...)
	if err != nil {
		return fmt.Errorf("check rule in %s/%s: %w", table, chain, err)
	}
	if ok {
		return nil
	}
	if err := r.ipt.Insert(table, chain, 1, rule...); err != nil {
		return fmt.Errorf("insert rule in %s/%s: %w", table, chain, err)
	}
	return nil
}

func (r *nftRunner) DeleteRule(table, chain string, rule ...string) error {
	if ok, err := r.ipt.ChainExists(table, chain); err != nil || !ok {
		return err
	}
	// A jump to a chain that does not exist cannot be there; iptables -C
	// would fail on the missing target rather than answer "no".
	if target := ruleTarget(rule); strings.HasPrefix(target, "KUBE-") {
		if ok, err := r.ipt.ChainExists(table, target); err != nil || !ok {
			return err
		}
	}
	if err := r.ipt.DeleteIfExists(table, chain, rule...); err != nil {
		return fmt.Errorf("delete rule from %s/%s: %w", table, chain, err)
	}
	return nil
}

func (r *nftRunner) ChainExists(table, chain string) (bool, error) {
	return r.ipt.ChainExists(table, chain)
}

func (r *nftRunner) DeleteChain(table, chain string) error {
	ok, err := r.ipt.ChainExists(table, chain)
	if err != nil || !ok {
		return err
	}
	if err := r.ipt.ClearAndDeleteChain(table, chain); err != nil {
		return fmt.Errorf("delete chain %s/%s: %w", table, chain, err)
	}
	return nil
}

func (r *nftRunner) ListChains(table string) ([]string, error) {
	return r.ipt.ListChains(table)
}

var restoreFailedLine = regexp.MustCompile(`line (\d+) failed`)

func (r *nftRunner) Restore(data []byte) error {
	cmd := exec.Command(r.restorePath, "--noflush", "--counters")
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if m := restoreFailedLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			msg += "; input around it:\n" + linesAround(data, n, 2)
		}
		return fmt.Errorf("%s: %w: %s", r.restorePath, err, msg)
	}
	return nil
}

// linesAround returns lines n-k..n+k (1-based) of data, for error messages.
func linesAround(data []byte, n, k int) string {
	lines := strings.Split(string(data), "\n")
	var b strings.Builder
	for i := max(1, n-k); i <= min(len(lines), n+k); i++ {
		marker := "  "
		if i == n {
			marker = "> "
		}
		fmt.Fprintf(&b, "%s%d: %s\n", marker, i, lines[i-1])
	}
	return b.String()
}

// ruleTarget returns the -j target of a rule.
func ruleTarget(rule []string) string {
	for i := 0; i+1 < len(rule); i++ {
		if rule[i] == "-j" {
			return rule[i+1]
		}
	}
	return ""
}
