package iptables

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// fakeIPTables models the tables as iptables-restore --noflush changes
// them, and rejects what the kernel would: rules in or jumps to chains
// that do not exist, and deleting a chain that is still referenced. It
// lets tests check that partial syncs leave the same tables as full ones.
type fakeIPTables struct {
	mu       sync.Mutex
	tables   map[string]*fakeTable
	restores [][]byte
	failNext error
	ipv6     bool
	// discardRestores accepts restores without applying them (for
	// benchmarks of the proxier's own work).
	discardRestores bool
}

type fakeTable struct {
	chains map[string][]string // chain -> rules (the text after "-A CHAIN ")
}

var builtinChains = map[string][]string{
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
}

func newFakeIPTables() *fakeIPTables {
	f := &fakeIPTables{tables: map[string]*fakeTable{}}
	for t, chains := range builtinChains {
		ft := &fakeTable{chains: map[string][]string{}}
		for _, c := range chains {
			ft.chains[c] = nil
		}
		f.tables[t] = ft
	}
	return f
}

func (f *fakeIPTables) IPv6() bool { return f.ipv6 }

func (f *fakeIPTables) table(name string) (*fakeTable, error) {
	t, ok := f.tables[name]
	if !ok {
		return nil, fmt.Errorf("no table %q", name)
	}
	return t, nil
}

func (f *fakeIPTables) EnsureChain(table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.table(table)
	if err != nil {
		return err
	}
	if _, ok := t.chains[chain]; !ok {
		t.chains[chain] = nil
	}
	return nil
}

func (f *fakeIPTables) EnsureRuleFirst(table, chain string, rule ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.table(table)
	if err != nil {
		return err
	}
	rules, ok := t.chains[chain]
	if !ok {
		return fmt.Errorf("no chain %s/%s", table, chain)
	}
	text := strings.Join(rule, " ")
	if slices.Contains(rules, text) {
		return nil
	}
	t.chains[chain] = append([]string{text}, rules...)
	return nil
}

func (f *fakeIPTables) DeleteRule(table, chain string, rule ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.table(table)
	if err != nil {
		return err
	}
	text := strings.Join(rule, " ")
	t.chains[chain] = slices.DeleteFunc(t.chains[chain], func(r string) bool { return r == text })
	return nil
}

func (f *fakeIPTables) ChainExists(table, chain string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.table(table)
	if err != nil {
		return false, err
	}
	_, ok := t.chains[chain]
	return ok, nil
}

func (f *fakeIPTables) DeleteChain(table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.table(table)
	if err != nil {
		return err
	}
	for c, rules := range t.chains {
		for _, r := range rules {
			if jumpTarget(r) == chain && c != chain {
				return fmt.Errorf("chain %s is referenced by %s", chain, c)
			}
		}
	}
	delete(t.chains, chain)
	return nil
}

func (f *fakeIPTables) ListChains(table string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.table(table)
	if err != nil {
		return nil, err
	}
	var out []string
	for c := range t.chains {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

func jumpTarget(rule string) string {
	w := strings.Fields(rule)
	for i := 0; i+1 < len(w); i++ {
		if w[i] == "-j" {
			return w[i+1]
		}
	}
	return ""
}

var standardTargets = map[string]bool{"ACCEPT": true, "DROP": true, "REJECT": true, "RETURN": true, "DNAT": true, "SNAT": true, "MASQUERADE": true, "MARK": true, "": true}

func (f *fakeIPTables) Restore(data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.discardRestores {
		return nil
	}
	f.restores = append(f.restores, append([]byte(nil), data...))
	if err := f.failNext; err != nil {
		f.failNext = nil
		return err
	}
	// Work on a copy; commit table by table as iptables-restore does.
	var cur *fakeTable
	var curName string
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			curName = line[1:]
			t, err := f.table(curName)
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			cur = &fakeTable{chains: map[string][]string{}}
			for c, r := range t.chains {
				cur.chains[c] = append([]string(nil), r...)
			}
		case line == "COMMIT":
			for c, rules := range cur.chains {
				for _, r := range rules {
					target := jumpTarget(r)
					if standardTargets[target] {
						continue
					}
					if _, ok := cur.chains[target]; !ok {
						return fmt.Errorf("commit %s: rule in %s jumps to missing chain %s", curName, c, target)
					}
				}
			}
			f.tables[curName] = cur
			cur = nil
		case strings.HasPrefix(line, ":"):
			chain := strings.Fields(line[1:])[0]
			cur.chains[chain] = nil // creates, or flushes an existing chain
		case strings.HasPrefix(line, "-A "):
			w := strings.SplitN(line, " ", 3)
			if _, ok := cur.chains[w[1]]; !ok {
				return fmt.Errorf("line %d: append to missing chain %s", n, w[1])
			}
			rule := ""
			if len(w) == 3 {
				rule = w[2]
			}
			cur.chains[w[1]] = append(cur.chains[w[1]], rule)
		case strings.HasPrefix(line, "-X "):
			chain := strings.TrimSpace(line[3:])
			if _, ok := cur.chains[chain]; !ok {
				return fmt.Errorf("line %d: delete missing chain %s", n, chain)
			}
			for c, rules := range cur.chains {
				if c == chain {
					continue
				}
				for _, r := range rules {
					if jumpTarget(r) == chain {
						return fmt.Errorf("line %d: delete chain %s referenced from %s", n, chain, c)
					}
				}
			}
			delete(cur.chains, chain)
		default:
			return fmt.Errorf("line %d: cannot parse %q", n, line)
		}
	}
	if cur != nil {
		return fmt.Errorf("table %s not committed", curName)
	}
	return nil
}

// dump returns the proxy's chains of a table in a stable order: chains
// sorted by name, rules in order, built-in chains and the canary left out.
func (f *fakeIPTables) dump(table string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tables[table]
	var names []string
	for c := range t.chains {
		if !slices.Contains(builtinChains[table], c) && c != kubeProxyCanaryChain {
			names = append(names, c)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, c := range names {
		fmt.Fprintf(&b, ":%s\n", c)
	}
	for _, c := range names {
		for _, r := range t.chains[c] {
			fmt.Fprintf(&b, "-A %s %s\n", c, r)
		}
	}
	return b.String()
}

func (f *fakeIPTables) lastRestore() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.restores) == 0 {
		return ""
	}
	return string(f.restores[len(f.restores)-1])
}

// sortRestoreInput normalizes iptables-restore input for comparison:
// per table, chain lines sorted, then rules grouped by chain (chains
// sorted, rule order kept), then -X lines.
func sortRestoreInput(data string) string {
	var b strings.Builder
	var chains []string
	rules := map[string][]string{}
	var deletes []string
	flush := func() {
		sort.Strings(chains)
		for _, c := range chains {
			b.WriteString(c + "\n")
		}
		var names []string
		for c := range rules {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			for _, r := range rules[c] {
				b.WriteString(r + "\n")
			}
		}
		sort.Strings(deletes)
		for _, d := range deletes {
			b.WriteString(d + "\n")
		}
		chains, rules, deletes = nil, map[string][]string{}, nil
	}
	for _, line := range strings.Split(data, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "*"):
			b.WriteString(line + "\n")
		case line == "COMMIT":
			flush()
			b.WriteString("COMMIT\n")
		case strings.HasPrefix(line, ":"):
			chains = append(chains, line)
		case strings.HasPrefix(line, "-A "):
			c := strings.Fields(line)[1]
			rules[c] = append(rules[c], line)
		default:
			deletes = append(deletes, line)
		}
	}
	return b.String()
}
