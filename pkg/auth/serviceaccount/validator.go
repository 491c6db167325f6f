package serviceaccount

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gopkg.in/go-jose/go-jose.v2/jwt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/audit"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
	authenticationtokenjwt "k8s.io/apiserver/pkg/authentication/token/jwt"
	"k8s.io/apiserver/pkg/warning"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/klog/v2"
)

// now is replaced in tests.
var now = time.Now

// Getter reads the objects tokens are bound to.
type Getter interface {
	GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
}

// boundValidator checks a bound token: not expired, and its service
// account and bound object still exist with the same UIDs.
type boundValidator struct {
	getter Getter
}

func (v *boundValidator) validate(ctx context.Context, _ string, public *jwt.Claims, private *privateClaims) (*apiserverserviceaccount.ServiceAccountInfo, error) {
	nowTime := now()
	switch err := public.Validate(jwt.Expected{Time: nowTime}); err {
	case nil:
	case jwt.ErrExpired:
		return nil, errors.New("service account token has expired")
	case jwt.ErrNotValidYet:
		return nil, errors.New("service account token is not valid yet")
	case jwt.ErrIssuedInTheFuture:
		return nil, errors.New("service account token is issued in the future")
	default:
		klog.ErrorS(err, "Unexpected service account token claim validation failure")
		return nil, errors.New("service account token claims could not be validated due to unexpected validation error")
	}

	// Objects deleted before now minus the clock-skew leeway invalidate
	// their tokens.
	deletedBefore := nowTime.Add(-jwt.DefaultLeeway)
	k := private.Kubernetes
	namespace := k.Namespace
	sa, err := v.getter.GetServiceAccount(ctx, namespace, k.Svcacct.Name)
	if err != nil {
		klog.V(4).InfoS("Could not retrieve service account", "namespace", namespace, "name", k.Svcacct.Name, "err", err)
		return nil, err
	}
	if string(sa.UID) != k.Svcacct.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.Svcacct.UID)
	}
	if deletedSince(sa.DeletionTimestamp, deletedBefore) {
		return nil, fmt.Errorf("service account %s/%s has been deleted", namespace, k.Svcacct.Name)
	}

	if k.Secret != nil {
		secret, err := v.getter.GetSecret(ctx, namespace, k.Secret.Name)
		if err != nil {
			return nil, errors.New("service account token has been invalidated")
		}
		if string(secret.UID) != k.Secret.UID {
			return nil, fmt.Errorf("secret UID (%s) does not match service account secret ref claim (%s)", secret.UID, k.Secret.UID)
		}
		if deletedSince(secret.DeletionTimestamp, deletedBefore) {
			return nil, errors.New("service account token has been invalidated")
		}
	}

	info := &apiserverserviceaccount.ServiceAccountInfo{
		Namespace:    namespace,
		Name:         k.Svcacct.Name,
		UID:          k.Svcacct.UID,
		CredentialID: authenticationtokenjwt.CredentialIDForJTI(public.ID),
	}
	if k.Pod != nil {
		pod, err := v.getter.GetPod(ctx, namespace, k.Pod.Name)
		if err != nil {
			return nil, errors.New("service account token has been invalidated")
		}
		if string(pod.UID) != k.Pod.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match service account pod ref claim (%s)", pod.UID, k.Pod.UID)
		}
		if deletedSince(pod.DeletionTimestamp, deletedBefore) {
			return nil, errors.New("service account token has been invalidated")
		}
		info.PodName, info.PodUID = k.Pod.Name, k.Pod.UID
		if k.Node != nil {
			// A pod-bound token names its pod's node for information only.
			info.NodeName, info.NodeUID = k.Node.Name, k.Node.UID
		}
	} else if k.Node != nil {
		node, err := v.getter.GetNode(ctx, k.Node.Name)
		if err != nil {
			return nil, errors.New("service account token has been invalidated")
		}
		if string(node.UID) != k.Node.UID {
			return nil, fmt.Errorf("node UID (%s) does not match service account node ref claim (%s)", node.UID, k.Node.UID)
		}
		if deletedSince(node.DeletionTimestamp, deletedBefore) {
			return nil, errors.New("service account token has been invalidated")
		}
		info.NodeName, info.NodeUID = k.Node.Name, k.Node.UID
	}

	// Projected tokens past their requested lifetime still work for the
	// extended period, but are flagged as stale.
	if k.WarnAfter != nil && *k.WarnAfter != 0 && nowTime.After(k.WarnAfter.Time()) {
		audit.AddAuditAnnotation(ctx, "authentication.k8s.io/stale-token",
			fmt.Sprintf("subject: %s, seconds after warning threshold: %d", public.Subject, nowTime.Unix()-k.WarnAfter.Time().Unix()))
	}
	return info, nil
}

func deletedSince(ts *metav1.Time, before time.Time) bool {
	return ts != nil && ts.Time.Before(before)
}

// SecretLabeler records when a legacy token was last used, on its Secret.
type SecretLabeler interface {
	corev1client.SecretsGetter
}

// LastUsedLabel is set on a Secret whose legacy token was used, to the day.
const LastUsedLabel = "kubernetes.io/legacy-token-last-used"

// InvalidSinceLabel marks a legacy token Secret as no longer accepted.
const InvalidSinceLabel = "kubernetes.io/legacy-token-invalid-since"

// legacyValidator checks a token kept in a Secret: the Secret still holds
// exactly this token and the service account still exists.
type legacyValidator struct {
	getter  Getter
	secrets SecretLabeler
}

func (v *legacyValidator) validate(ctx context.Context, token string, public *jwt.Claims, private *legacyClaims) (*apiserverserviceaccount.ServiceAccountInfo, error) {
	switch {
	case public.Subject == "":
		return nil, errors.New("sub claim is missing")
	case private.Namespace == "":
		return nil, errors.New("namespace claim is missing")
	case private.SecretName == "":
		return nil, errors.New("secretName claim is missing")
	case private.ServiceAccountName == "":
		return nil, errors.New("serviceAccountName claim is missing")
	case private.ServiceAccountUID == "":
		return nil, errors.New("serviceAccountUID claim is missing")
	}
	ns, name, err := apiserverserviceaccount.SplitUsername(public.Subject)
	if err != nil || ns != private.Namespace || name != private.ServiceAccountName {
		return nil, errors.New("sub claim is invalid")
	}

	secret, err := v.getter.GetSecret(ctx, ns, private.SecretName)
	if err != nil || secret.DeletionTimestamp != nil {
		return nil, errors.New("Token has been invalidated") //nolint:staticcheck // upstream's message
	}
	if subtle.ConstantTimeCompare(secret.Data[corev1.ServiceAccountTokenKey], []byte(token)) == 0 {
		return nil, errors.New("Token does not match server's copy") //nolint:staticcheck // upstream's message
	}
	sa, err := v.getter.GetServiceAccount(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if sa.DeletionTimestamp != nil {
		return nil, fmt.Errorf("ServiceAccount %s/%s has been deleted", ns, name)
	}
	if string(sa.UID) != private.ServiceAccountUID {
		return nil, fmt.Errorf("ServiceAccount UID (%s) does not match claim (%s)", sa.UID, private.ServiceAccountUID)
	}
	if secret.Labels[InvalidSinceLabel] != "" {
		audit.AddAuditAnnotation(ctx, "authentication.k8s.io/legacy-token-invalidated", secret.Name+"/"+secret.Namespace)
		v.markUsed(ctx, secret)
		return nil, fmt.Errorf("the token in secret %s/%s for service account %s/%s has been marked invalid. Use tokens from the TokenRequest API or manually created secret-based tokens, or remove the '%s' label from the secret to temporarily allow use of this token",
			ns, secret.Name, ns, name, InvalidSinceLabel)
	}
	autoGenerated := false
	for _, r := range sa.Secrets {
		if r.Name == secret.Name {
			autoGenerated = true
			warning.AddWarning(ctx, "", "Use tokens from the TokenRequest API or manually created secret-based tokens instead of auto-generated secret-based tokens.")
			audit.AddAuditAnnotation(ctx, "authentication.k8s.io/legacy-token-autogenerated-secret", secret.Name)
			break
		}
	}
	if !autoGenerated {
		audit.AddAuditAnnotation(ctx, "authentication.k8s.io/legacy-token-manual-secret", secret.Name)
	}
	v.markUsed(ctx, secret)
	return &apiserverserviceaccount.ServiceAccountInfo{Namespace: ns, Name: name, UID: private.ServiceAccountUID}, nil
}

// markUsed labels the Secret with today's date, at most once a day.
func (v *legacyValidator) markUsed(ctx context.Context, secret *corev1.Secret) {
	if v.secrets == nil {
		return
	}
	t := now().UTC()
	today, tomorrow := t.Format("2006-01-02"), t.AddDate(0, 0, 1).Format("2006-01-02")
	if last := secret.Labels[LastUsedLabel]; last == today || last == tomorrow {
		return
	}
	patch, err := json.Marshal(applycorev1.Secret(secret.Name, secret.Namespace).WithUID(secret.UID).WithLabels(map[string]string{LastUsedLabel: today}))
	if err != nil {
		klog.ErrorS(err, "Cannot encode the last-used label of a legacy token", "secret", klog.KObj(secret))
		return
	}
	if _, err := v.secrets.Secrets(secret.Namespace).Patch(ctx, secret.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		klog.ErrorS(err, "Cannot label a legacy token with its last-used date", "secret", klog.KObj(secret))
	}
}
