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
