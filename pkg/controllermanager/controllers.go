package controllermanager

// NewControllers returns every controller skiff can run, by upstream's
// controller name. Each lives in its own package under pkg/controller.
func NewControllers() map[string]Controller {
	return map[string]Controller{}
}
