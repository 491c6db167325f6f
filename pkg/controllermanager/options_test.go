package controllermanager

import "testing"

func TestEnabled(t *testing.T) {
	cases := []struct {
		controllers []string
		name        string
		onByDefault bool
		want        bool
	}{
		{[]string{"*"}, "job", true, true},
		{[]string{"*"}, "bootstrapsigner", false, false},
		{[]string{"*", "bootstrapsigner"}, "bootstrapsigner", false, true},
		{[]string{"*", "-job"}, "job", true, false},
		{[]string{"job"}, "job", true, true},
		{[]string{"job"}, "cronjob", true, false},
		{[]string{"-job", "*"}, "job", true, false},
	}
	for _, tc := range cases {
		o := &Options{Controllers: tc.controllers}
		if got := o.enabled(tc.name, tc.onByDefault); got != tc.want {
			t.Errorf("controllers=%v: enabled(%s, default=%v) = %v, want %v", tc.controllers, tc.name, tc.onByDefault, got, tc.want)
		}
	}
}

func TestValidateRejectsUnknownControllers(t *testing.T) {
	o := NewOptions()
	o.Controllers = []string{"*", "-nope"}
	if errs := o.Validate([]string{"job"}); len(errs) != 1 {
		t.Fatalf("Validate = %v, want one error about nope", errs)
	}
	o.Controllers = []string{"*", "-job"}
	if errs := o.Validate([]string{"job"}); len(errs) != 0 {
		t.Fatalf("Validate = %v, want none", errs)
	}
}

func TestCompleteResolvesAliases(t *testing.T) {
	controllers := map[string]Controller{
		"namespace-controller": {OnByDefault: true, Aliases: []string{"namespace"}},
		"job-controller":       {OnByDefault: true},
	}
	o := NewOptions()
	o.Controllers = []string{"*", "-namespace", "job-controller"}
	o.Complete(controllers)
	want := []string{"*", "-namespace-controller", "job-controller"}
	for i := range want {
		if o.Controllers[i] != want[i] {
			t.Fatalf("Complete = %v, want %v", o.Controllers, want)
		}
	}
	if errs := o.Validate(KnownControllers(controllers)); len(errs) != 0 {
		t.Fatalf("Validate after Complete = %v, want none", errs)
	}
	if o.enabled("namespace-controller", true) {
		t.Errorf("namespace-controller enabled, want disabled through its alias")
	}
}

func TestNewControllersUseUpstreamNames(t *testing.T) {
	controllers := NewControllers()
	for name, aliases := range map[string][]string{
		"namespace-controller":                     {"namespace"},
		"garbage-collector-controller":             {"garbagecollector"},
		"serviceaccount-controller":                {"serviceaccount"},
		"root-ca-certificate-publisher-controller": {"root-ca-cert-publisher"},
	} {
		c, ok := controllers[name]
		if !ok {
			t.Errorf("controller %s missing", name)
			continue
		}
		if !c.OnByDefault || len(c.Aliases) != len(aliases) || c.Aliases[0] != aliases[0] {
			t.Errorf("%s: onByDefault=%v aliases=%v, want true %v", name, c.OnByDefault, c.Aliases, aliases)
		}
	}
}
