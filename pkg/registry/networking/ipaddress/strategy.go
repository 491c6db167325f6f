// Package ipaddress serves networking.k8s.io/v1 IPAddresses: the record of
// each allocated Service ClusterIP (see pkg/registry/core/service/ipallocator).
package ipaddress

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/networking"
	networkingvalidation "k8s.io/kubernetes/pkg/apis/networking/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// ipAddressStrategy validates IPAddresses with upstream's rules. They have
// no status and no generation.
type ipAddressStrategy struct {
	generic.Strategy
}

// literalNames ignores generateName's random suffix: an IPAddress's name is
// its IP, so a generated one would never be valid. Upstream does the same.
type literalNames struct{}

func (literalNames) GenerateName(base string) string { return base }

var strategy = func() ipAddressStrategy {
	s := ipAddressStrategy{generic.NewStrategy(false)}
	s.NameGenerator = literalNames{}
	return s
}()

func (ipAddressStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, networkingvalidation.ValidateIPAddress)
}

func (ipAddressStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(ip, oldIP *networking.IPAddress) field.ErrorList {
		return append(networkingvalidation.ValidateIPAddress(ip), networkingvalidation.ValidateIPAddressUpdate(ip, oldIP)...)
	})
}
