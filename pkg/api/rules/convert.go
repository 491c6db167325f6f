package rules

import "fmt"

// ConvertValue converts a part of an object, such as a PodTemplateSpec or a
// JobSpec, between its k8s.io/api type and upstream's internal type (in
// either direction) with upstream's generated conversions. in and out are
// pointers. out may share memory with in: deep-copy in first when either
// will be modified afterwards.
func ConvertValue(in, out any) error {
	if err := upstreamScheme.Convert(in, out, nil); err != nil {
		return fmt.Errorf("convert %T to %T: %w", in, out, err)
	}
	return nil
}
