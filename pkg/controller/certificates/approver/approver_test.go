package approver

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/skiff-project/skiff/pkg/controller/certificates"
	"github.com/skiff-project/skiff/pkg/controller/certificates/internal/testcsr"
)

func kubeletCSR(t *testing.T, username, cn string) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    testcsr.Request(t, cn, []string{"system:nodes"}, nil, nil),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			Username:   username,
			Groups:     []string{"system:bootstrappers"},
		},
	}
}

// setup returns an approver whose SubjectAccessReviews allow the given
// subresources, and the reviews it asked for.
func setup(csr *certificatesv1.CertificateSigningRequest, allowed ...string) (*Approver, *fake.Clientset, *[]authorizationv1.SubjectAccessReviewSpec) {
	client := fake.NewClientset(csr)
	var asked []authorizationv1.SubjectAccessReviewSpec
	client.PrependReactor("create", "subjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		sar := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		asked = append(asked, sar.Spec)
		for _, sub := range allowed {
			if sar.Spec.ResourceAttributes.Subresource == sub {
				sar.Status.Allowed = true
			}
		}
		return true, sar, nil
	})
	return &Approver{client: client}, client, &asked
}

func approval(t *testing.T, client *fake.Clientset) *certificatesv1.CertificateSigningRequestCondition {
	csr, err := client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), "csr-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range csr.Status.Conditions {
		if csr.Status.Conditions[i].Type == certificatesv1.CertificateApproved {
			return &csr.Status.Conditions[i]
		}
	}
	return nil
}

func TestBootstrapNodeClientApproved(t *testing.T) {
	csr := kubeletCSR(t, "system:bootstrap:abcdef", "system:node:node-1")
	a, client, asked := setup(csr, "nodeclient")
	if err := a.Handle(context.Background(), csr.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	c := approval(t, client)
	if c == nil || c.Reason != "AutoApproved" || c.Message != "Auto approving kubelet client certificate after SubjectAccessReview." {
		t.Fatalf("approval = %+v", c)
	}
	if len(*asked) != 1 || (*asked)[0].User != "system:bootstrap:abcdef" || (*asked)[0].Groups[0] != "system:bootstrappers" {
		t.Errorf("reviews = %+v", *asked)
	}
}

func TestSelfNodeClientApproved(t *testing.T) {
	csr := kubeletCSR(t, "system:node:node-1", "system:node:node-1")
	a, client, _ := setup(csr, "selfnodeclient")
	if err := a.Handle(context.Background(), csr.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if c := approval(t, client); c == nil || c.Message != "Auto approving self kubelet client certificate after SubjectAccessReview." {
		t.Fatalf("approval = %+v", c)
	}
}

func TestNotAuthorizedOrNotKubelet(t *testing.T) {
	csr := kubeletCSR(t, "mallory", "system:node:node-1")
	a, client, _ := setup(csr)
	err := a.Handle(context.Background(), csr.DeepCopy())
	var ignorable certificates.IgnorableError
	if err == nil || !asIgnorable(err, &ignorable) {
		t.Errorf("err = %v, want an ignorable error", err)
	}
	if approval(t, client) != nil {
		t.Errorf("approved without authorization")
	}

	other := kubeletCSR(t, "system:bootstrap:abcdef", "alice")
	a, client, asked := setup(other, "nodeclient", "selfnodeclient")
	if err := a.Handle(context.Background(), other.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if approval(t, client) != nil || len(*asked) != 0 {
		t.Errorf("a non-kubelet CSR was reviewed or approved")
	}
}

func asIgnorable(err error, target *certificates.IgnorableError) bool {
	e, ok := err.(certificates.IgnorableError)
	if ok {
		*target = e
	}
	return ok
}
