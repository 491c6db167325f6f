package progress

import (
	"regexp"
	"strconv"
	"strings"
)

// Parser reads e2e.test's ginkgo v2 output line by line (serial run with
// --ginkgo.v, or the ginkgo CLI's aggregated output under --nodes) and feeds
// the Tracker. What it relies on, from ginkgo's default reporter:
//
//	Will run 3 of 3206 specs
//	------------------------------
//	[sig-x] Foo should bar [Conformance]            <- spec name (streamed, serial -v)
//	k8s.io/kubernetes@v1.37.2/test/e2e/x.go:10
//	  ...timeline...
//	• [0.123 seconds]                               <- passed
//	• [FAILED] [120.027 seconds]                    <- failed/timed out/panicked...
//	[sig-x] Foo [BeforeEach] should bar [Conformance] [sig-x, Conformance]
//	S [SKIPPED] [0.001 seconds]                     <- skipped at run time
//
// Suite nodes ("[SynchronizedBeforeSuite] PASSED ...") are not tests.
type Parser struct {
	t          *Tracker
	afterDelim bool   // the previous line was the delimiter
	current    string // spec name announced after the last delimiter
	pending    string // verb of a header whose name may follow on the next line
	unnamed    int
}

// NewParser feeds t.
func NewParser(t *Tracker) *Parser { return &Parser{t: t} }

var (
	willRunRE = regexp.MustCompile(`^Will run (\d+) of (\d+) specs`)
	headerRE  = regexp.MustCompile(`^([•S+P])(?: \[([A-Z][A-Z ]*[A-Z])\])?(?: \[[0-9.]+ seconds\])?\s*$`)
	nodeRE    = regexp.MustCompile(` \[(?:It|BeforeEach|AfterEach|JustBeforeEach|JustAfterEach|BeforeAll|AfterAll|DeferCleanup[^\]]*)\]`)
	labelsRE  = regexp.MustCompile(` \[([^\[\]]*)\]$`)
)

// Line processes one line of output (without its newline).
func (p *Parser) Line(line string) {
	line = strings.TrimRight(line, "\r")
	if p.pending != "" {
		verb := p.pending
		p.pending = ""
		if strings.HasPrefix(line, "[") && !strings.HasPrefix(line, "[FAILED]") && !strings.HasPrefix(line, "[PANICKED]") &&
			!strings.HasPrefix(line, "[TIMEDOUT]") && !strings.HasPrefix(line, "[INTERRUPTED]") {
			p.emit(verb, SpecName(line))
			return
		}
		p.emit(verb, p.current)
	}
	if line == "------------------------------" {
		p.afterDelim = true
		return
	}
	if p.afterDelim {
		p.afterDelim = false
		if strings.HasPrefix(line, "[") && !isSuiteNode(line) {
			p.current = SpecName(line)
		} else {
			p.current = ""
		}
	}
	if m := willRunRE.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		p.t.Add(Update{Total: n})
		return
	}
	m := headerRE.FindStringSubmatch(line)
	if m == nil {
		return
	}
	switch {
	case m[1] == "P":
		return // pending specs never run
	case m[1] == "S" && m[2] == "":
		// A bare "S" (like "SSSS...") is a spec the focus filtered out: it
		// is not among the "Will run N" specs. A spec that ran and
		// skipped itself prints "S [SKIPPED]".
		return
	case m[1] == "S":
		p.pending = "SKIPPED"
	case m[2] == "" || strings.HasPrefix(m[2], "FLAKEY"):
		p.pending = "PASSED"
	default:
		p.pending = "FAILED" // FAILED, TIMEDOUT, PANICKED, INTERRUPTED, ABORTED
	}
	if m[1] == "+" { // "+ [FLAKEY TEST ...]" still passed
		p.pending = "PASSED"
	}
}

// Flush emits a header seen on the very last line.
func (p *Parser) Flush() {
	if p.pending != "" {
		p.emit(p.pending, p.current)
		p.pending = ""
	}
}

func (p *Parser) emit(verb, name string) {
	if name == "" {
		p.unnamed++
		name = "(unnamed spec #" + strconv.Itoa(p.unnamed) + ")"
	}
	p.t.Add(Update{Msg: verb + " " + name})
}

func isSuiteNode(line string) bool {
	for _, n := range []string{"[SynchronizedBeforeSuite]", "[SynchronizedAfterSuite]", "[BeforeSuite]", "[AfterSuite]", "[ReportBeforeSuite]", "[ReportAfterSuite]", "[DeferCleanup (Suite)]"} {
		if strings.HasPrefix(line, n) {
			return true
		}
	}
	return false
}

// SpecName turns a ginkgo report line into the test's codename: without the
// "[It]"/"[BeforeEach]" marker of the failing node and without the trailing
// label list that repeats labels already in the text.
func SpecName(line string) string {
	s := strings.TrimSpace(nodeRE.ReplaceAllString(strings.TrimSpace(line), ""))
	if m := labelsRE.FindStringSubmatchIndex(s); m != nil {
		rest := s[:m[0]]
		all := true
		for _, l := range strings.Split(s[m[2]:m[3]], ", ") {
			if !strings.Contains(rest, "["+l+"]") {
				all = false
				break
			}
		}
		if all {
			s = rest
		}
	}
	return s
}
