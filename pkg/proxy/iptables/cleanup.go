package iptables

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// Cleanup removes every rule and chain the proxy creates: the jumps from
// the built-in chains first, then the chains themselves in one restore per
// table. Chains of other tools are left alone. It goes on after errors and
// returns them all.
func Cleanup(ipt Interface) error {
	var errs []error
	for _, j := range append(append([]jump(nil), jumps...), kubeletJumps...) {
		if err := ipt.DeleteRule(j.table, j.from, j.rule()...); err != nil {
			errs = append(errs, err)
		}
	}
	fixed := map[string][]string{
		tableNAT:    {kubeServicesChain, kubeNodePortsChain, kubePostroutingChain, kubeMarkMasqChain, kubeProxyCanaryChain},
		tableFilter: {kubeServicesChain, kubeExternalServicesChain, kubeForwardChain, kubeNodePortsChain, kubeProxyFirewallChain, kubeProxyCanaryChain, kubeletFirewallChain},
	}
	var data bytes.Buffer
	for _, table := range []string{tableFilter, tableNAT} {
		existing, err := ipt.ListChains(table)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s chains: %w", table, err))
			continue
		}
		var remove []string
		for _, c := range existing {
			if slices.Contains(fixed[table], c) || (table == tableNAT && isServiceChain(c)) {
				remove = append(remove, c)
			}
		}
		if len(remove) == 0 {
			continue
		}
		// Flush them all first, so that no rule of one references another
		// when it is deleted.
		fmt.Fprintf(&data, "*%s\n", table)
		for _, c := range remove {
			data.WriteString(chainLine(c) + "\n")
		}
		for _, c := range remove {
			fmt.Fprintf(&data, "-X %s\n", c)
		}
		data.WriteString("COMMIT\n")
	}
	if data.Len() > 0 {
		if err := ipt.Restore(data.Bytes()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ipt.DeleteChain("mangle", kubeProxyCanaryChain); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
