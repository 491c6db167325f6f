package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/cri-client/pkg/logs"
)

// containerLogs serves /containerLogs/<ns>/<pod>/<container> with
// upstream's query parameters (follow, previous, sinceSeconds, sinceTime,
// timestamps, tailLines, limitBytes, stream).
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	parts := pathParts(r.URL.Path, "/containerLogs/")
	if len(parts) != 3 {
		http.Error(w, "expected /containerLogs/<namespace>/<pod>/<container>", http.StatusBadRequest)
		return
	}
	pod, ok := s.pod(w, parts[0], parts[1])
	if !ok {
		return
	}
	q := r.URL.Query()
	opts, err := logOptions(q, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	previous := q.Get("previous") == "true" || q.Get("previous") == "1"
	id, path, err := s.host.Container(r.Context(), pod, parts[2], previous)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if previous {
		opts.Follow = false
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		out.f = f
	}
	var stdout, stderr io.Writer = out, out
	switch q.Get("stream") {
	case v1.LogStreamStdout:
		stderr = io.Discard
	case v1.LogStreamStderr:
		stdout = io.Discard
	}
	if err := logs.ReadLogs(r.Context(), path, id, opts, s.host.Runtime(), stdout, stderr); err != nil && r.Context().Err() == nil {
		fmt.Fprintf(out, "failed to read logs: %v\n", err)
	}
}

// logOptions converts the query to the CRI log reader's options.
func logOptions(q map[string][]string, now time.Time) (*logs.LogOptions, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	opts := &logs.LogOptions{Follow: get("follow") == "true" || get("follow") == "1", Timestamp: get("timestamps") == "true" || get("timestamps") == "1"}
	if v := get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("invalid tailLines %q", v)
		}
		opts.TailLines = &n
	}
	if v := get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("invalid limitBytes %q", v)
		}
		opts.LimitBytes = &n
	}
	if v := get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("invalid sinceSeconds %q", v)
		}
		opts.Since = now.Add(-time.Duration(n) * time.Second)
	}
	if v := get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("invalid sinceTime %q", v)
		}
		opts.Since = t
	}
	return opts, nil
}

// flushWriter flushes after every write so that followed logs stream.
type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}
