# skiff: a Kubernetes cluster in one binary.

SHELL := /bin/bash
GO ?= go
BIN := bin/skiff
KUBE_VERSION := v1.37.2
VERSION_PKG := k8s.io/component-base/version
LDFLAGS := -s -w -X $(VERSION_PKG).gitVersion=$(KUBE_VERSION)+skiff \
           -X $(VERSION_PKG).gitMajor=1 -X $(VERSION_PKG).gitMinor=37 \
           -X $(VERSION_PKG).gitTreeState=clean \
           -X $(VERSION_PKG).buildDate=1970-01-01T00:00:00Z
DATA_DIR ?= /var/lib/skiff

.PHONY: all build images test unit verify codegen verify-codegen verify-imports run up e2e clean

all: build

## build: compile bin/skiff
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/skiff

## images: the node's images (pause, busybox, coredns) as OCI tars in _output/images
images:
	hack/images/build.sh _output/images

## test: everything CI runs (unit tests, verify, end-to-end against bin/skiff)
test: verify unit e2e

## unit: go test ./... (fast, no root needed)
unit:
	$(GO) test ./...

## e2e: end-to-end tests that start bin/skiff and drive it with kubectl/client-go
e2e: build images
	SKIFF_BIN=$(CURDIR)/$(BIN) SKIFF_IMAGES=$(CURDIR)/_output/images $(GO) test -tags e2e -count=1 -timeout 20m ./test/e2e/...

## verify: gofmt, generated code, import rules
verify: verify-codegen verify-imports
	@out=$$(gofmt -l cmd pkg test hack 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

verify-codegen:
	hack/verify-codegen.sh

verify-imports:
	hack/verify-imports.sh

## codegen: regenerate pkg/generated/openapi
codegen:
	hack/update-codegen.sh

## run: build and run a single-node cluster in the foreground
run: build images
	$(BIN) server --data-dir $(DATA_DIR) --images-dir _output/images

## up: install what is missing, build, start a cluster in the background
up:
	hack/up.sh

clean:
	rm -rf bin _output

## conformance: upstream v1.37 conformance suite (conformance/, its own Go module) against
## KUBECONFIG, or a throw-away bin/skiff cluster when it is unset; FOCUS=, SKIP=, GINKGO_NODES=,
## E2E_TIMEOUT= override. Writes _output/conformance/{junit_01.xml,e2e.log,summary.txt}.
.PHONY: conformance conformance-quick conformance-build conformance-images conformance-images-verify conformance-unit
conformance:
	conformance/hack/run.sh

## conformance-quick: the api-only subset in conformance/testdata/quick.txt (< 15 min, no images)
conformance-quick:
	QUICK=1 conformance/hack/run.sh

## conformance-build: e2e.test, ginkgo and the test images' binaries into _output/conformance/bin
conformance-build:
	conformance/hack/build.sh

## conformance-images: the test images as OCI tars in _output/conformance/images
conformance-images:
	conformance/hack/images.sh

## conformance-images-verify: build the images, assert each conformance image reference has its tar
conformance-images-verify: conformance-images
	cd conformance && CONFORMANCE_IMAGES_DIR=$(CURDIR)/_output/conformance/images $(GO) test -count=1 ./internal/images/

## conformance-unit: unit tests of the conformance module (summariser, progress, image list)
conformance-unit:
	cd conformance && $(GO) test ./...
