package raid

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is.
var (
	// ErrNoController: the tool ran and found no controller it can manage.
	ErrNoController = errors.New("no controller found")
	// ErrNoVolumes: the tool refused a volume command because the
	// controller has no volumes (sas2ircu STATUS).
	ErrNoVolumes = errors.New("no volumes on the controller")
	// ErrUnsupported: the output is of a kind the parser does not know
	// (a new schema, an unknown command); never guessed at.
	ErrUnsupported = errors.New("unsupported output")
	// ErrTruncated: the output stops before the tool's end marker.
	ErrTruncated = errors.New("truncated output")
	// ErrMalformed: the output is of a known kind but a line or field does
	// not have the expected shape.
	ErrMalformed = errors.New("malformed output")
)

// ToolError is a failure the tool itself reported in its output (an error
// line, storcli's "Status": "Failure"), carrying the tool's own message.
type ToolError struct {
	Tool    string
	Command string
	// Message is the tool's text, joined to one line.
	Message string
	// Code is the tool's error code when it prints one (storcli ErrCd).
	Code int
	// Kind is ErrNoController, ErrNoVolumes or nil.
	Kind error
}

func (e *ToolError) Error() string {
	s := e.Tool
	if e.Command != "" {
		s += " " + e.Command
	}
	s += ": tool reported an error: " + e.Message
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d)", e.Code)
	}
	return s
}

// Is lets errors.Is(err, ErrNoController) match a ToolError of that kind.
func (e *ToolError) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// ParseError is an output the parser could not read.
type ParseError struct {
	Tool    string
	Command string
	// Line is the 1-based line of the input the reason refers to, 0 for
	// the output as a whole.
	Line   int
	Reason string
	// Err is ErrUnsupported, ErrTruncated or ErrMalformed.
	Err error
}

func (e *ParseError) Error() string {
	s := e.Tool
	if e.Command != "" {
		s += " " + e.Command
	}
	if e.Line > 0 {
		s += fmt.Sprintf(": line %d", e.Line)
	}
	return s + ": " + e.Err.Error() + ": " + e.Reason
}

func (e *ParseError) Unwrap() error { return e.Err }
