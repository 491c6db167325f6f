package kubelet

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// imageDecision is what to do about a container's image.
type imageDecision int

const (
	imageUse       imageDecision = iota // present: use it, never pull
	imagePull                           // absent (or Always): pull
	imageNeverPull                      // absent with pull policy Never
)

// decideImage is upstream's policy: a present image is used as it is
// unless the policy is Always; an absent one is pulled unless the policy
// is Never. skiff never pulls a present image, even with Always: no
// registry may be reachable, and the image a node has is the one wanted.
func decideImage(policy v1.PullPolicy, present bool) imageDecision {
	switch {
	case present:
		return imageUse
	case policy == v1.PullNever:
		return imageNeverPull
	default:
		return imagePull
	}
}

// ensureImage makes sure a container's image is there. It returns the
// image reference and user to create the container with, or why the
// container waits and when to try again.
func (kl *Kubelet) ensureImage(ctx context.Context, pod *v1.Pod, c *v1.Container) (ref string, user *imageUser, wait *waitingReason, retry time.Duration) {
	if strings.TrimSpace(c.Image) == "" {
		return "", nil, &waitingReason{Reason: reasonInvalidImageName, Message: fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: invalid reference format", c.Image, c.Image)}, 10 * time.Second
	}
	spec := &runtimeapi.ImageSpec{Image: c.Image, UserSpecifiedImage: c.Image}
	resp, err := kl.images.ImageStatus(ctx, spec, false)
	if err != nil {
		return "", nil, &waitingReason{Reason: reasonErrImagePull, Message: grpcMessage(err)}, 2 * time.Second
	}
	img := resp.GetImage()
	switch decideImage(c.ImagePullPolicy, img != nil) {
	case imageUse:
		kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeNormal, "Pulled", "Container image %q already present on machine and can be accessed by the pod", c.Image)
		return img.Id, userOf(img), nil, 0
	case imageNeverPull:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, reasonErrImageNeverPull, "%s", msg)
		return "", nil, &waitingReason{Reason: reasonErrImageNeverPull, Message: msg}, 10 * time.Second
	}
	key := string(pod.UID) + "_" + c.Image
	now := time.Now()
	if in, left := kl.pullBack.inBackoffSince(key, now.Add(-kl.sinceLastPull(key)), now); in {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeNormal, "BackOff", "%s", msg)
		if prev := kl.lastPullError(key); prev != "" {
			msg += ": " + prev
		}
		return "", nil, &waitingReason{Reason: reasonImagePullBackOff, Message: msg}, left
	}
	kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	pullCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	imageRef, err := kl.images.PullImage(pullCtx, spec, nil, nil)
	if err != nil {
		msg := grpcMessage(err)
		kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.Image, msg)
		kl.recordPullError(key, fmt.Sprintf("%s: %s", reasonErrImagePull, msg))
		kl.pullBack.next(key, time.Now())
		return "", nil, &waitingReason{Reason: reasonErrImagePull, Message: msg}, kl.pullBack.get(key)
	}
	kl.recordPullError(key, "")
	kl.recorder.Eventf(containerRef(pod, c), v1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %v", c.Image, time.Since(start).Round(time.Millisecond))
	resp, err = kl.images.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: imageRef}, false)
	if err != nil || resp.GetImage() == nil {
		return imageRef, nil, nil, 0
	}
	return resp.Image.Id, userOf(resp.Image), nil, 0
}

// imageUser is the user an image runs as (for runAsNonRoot checks).
type imageUser struct {
	UID  *int64
	Name string
}

func userOf(img *runtimeapi.Image) *imageUser {
	u := &imageUser{Name: img.Username}
	if img.Uid != nil {
		v := img.Uid.Value
		u.UID = &v
	}
	return u
}

// sinceLastPull is how long ago key's last pull failed (0 if never).
func (kl *Kubelet) sinceLastPull(key string) time.Duration {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	if t, ok := kl.pullFailedAt[key]; ok {
		return time.Since(t)
	}
	return 0
}

func (kl *Kubelet) lastPullError(key string) string {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	return kl.pullErrors[key]
}

func (kl *Kubelet) recordPullError(key, msg string) {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	if kl.pullErrors == nil {
		kl.pullErrors, kl.pullFailedAt = map[string]string{}, map[string]time.Time{}
	}
	if msg == "" {
		delete(kl.pullErrors, key)
		delete(kl.pullFailedAt, key)
		return
	}
	kl.pullErrors[key], kl.pullFailedAt[key] = msg, time.Now()
}
