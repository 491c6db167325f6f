package framework

import (
	"errors"
	"strings"
)

// Code is the outcome of a plugin.
type Code int

// The codes, in upstream's order.
const (
	// Success means the plugin ran and found the pod schedulable. A nil
	// Status is also Success.
	Success Code = iota
	// Error is an internal failure; the pod is retried after backoff.
	Error
	// Unschedulable means the pod does not fit but preemption may help.
	Unschedulable
	// UnschedulableAndUnresolvable means the pod does not fit and
	// preemption cannot change that.
	UnschedulableAndUnresolvable
	// Wait is returned by Permit plugins that want the pod to wait.
	Wait
	// Skip makes the framework skip the plugin's coupled extension points
	// (PreFilter->Filter, PreScore->Score) for this cycle.
	Skip
	// Pending means the plugin wants the cycle to stop without penalty; the
	// pod is requeued without backoff once an event resolves it.
	Pending
)

var codeNames = []string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Wait", "Skip", "Pending"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Unknown"
}

// Status is a plugin's result: a code, reasons and the plugin that set it.
// A nil *Status is Success.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with the given code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an error as an Error status; nil stays nil.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, err: err}
}

// WithError attaches err; its message becomes the first reason.
func (s *Status) WithError(err error) *Status {
	s.err = err
	return s
}

// WithPlugin records the plugin that produced the status.
func (s *Status) WithPlugin(plugin string) *Status {
	s.plugin = plugin
	return s
}

// SetPlugin records the plugin that produced the status.
func (s *Status) SetPlugin(plugin string) { s.plugin = plugin }

// Plugin is the plugin that produced the status.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// Code is the status code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// Reasons are the status's reasons, the error's message first.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	if s.err != nil {
		return append([]string{s.err.Error()}, s.reasons...)
	}
	return s.reasons
}

// AppendReason adds a reason.
func (s *Status) AppendReason(reason string) { s.reasons = append(s.reasons, reason) }

// Message joins the reasons with ", ".
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Reasons(), ", ")
}

func (s *Status) String() string { return s.Message() }

// IsSuccess reports Success (or nil).
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports Skip.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsWait reports Wait.
func (s *Status) IsWait() bool { return s.Code() == Wait }

// IsError reports Error.
func (s *Status) IsError() bool { return s.Code() == Error }

// IsRejected reports Unschedulable, UnschedulableAndUnresolvable or Pending.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable || c == Pending
}

// AsError returns the status as an error, nil for Success, Skip and Wait.
func (s *Status) AsError() error {
	if s.IsSuccess() || s.IsSkip() || s.IsWait() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// Err is the error attached with WithError or AsStatus.
func (s *Status) Err() error {
	if s == nil {
		return nil
	}
	return s.err
}

func errUnexpectedType(obj any) error {
	return &unexpectedTypeError{obj: obj}
}

type unexpectedTypeError struct{ obj any }

func (e *unexpectedTypeError) Error() string {
	return "unexpected object type " + typeName(e.obj)
}
