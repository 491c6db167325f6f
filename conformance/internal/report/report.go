// Package report reads the JUnit file that e2e.test writes (--report-dir)
// and summarises it against the official list of conformance tests
// (test/conformance/testdata/conformance.yaml) and skiff's classification of
// those tests (testdata/conformance-1.37.tsv: api-only, pods, networking,
// kubectl).
package report

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v2"
)

// Outcome of one test in a run.
type Outcome string

const (
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"  // failed, timed out, panicked, aborted, interrupted
	Skipped Outcome = "skipped" // the test ran and skipped itself (e2eskipper)
	NotRun  Outcome = "not-run" // not selected by the focus, or absent from the JUnit
)

// Result of one test case in the JUnit file.
type Result struct {
	Name      string // codename: the JUnit name without the "[It] " prefix
	Outcome   Outcome
	Seconds   float64
	FirstLine string // first line of the failure or skip message
	Leaf      string // ginkgo leaf node type: It, BeforeSuite, ...
}

// junit mirrors the subset of ginkgo's JUnit schema that we read.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string        `xml:"name,attr"`
	Status  string        `xml:"status,attr"`
	Time    float64       `xml:"time,attr"`
	Skipped *junitMessage `xml:"skipped"`
	Failure *junitMessage `xml:"failure"`
	Error   *junitMessage `xml:"error"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

var leafRE = regexp.MustCompile(`^\[([A-Za-z]+)\]\s*`)

// ReadJUnit parses a ginkgo v2 JUnit report.
func ReadJUnit(r io.Reader) ([]Result, error) {
	var doc junitSuites
	if err := xml.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding JUnit XML: %w", err)
	}
	var out []Result
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			res := Result{Name: c.Name, Seconds: c.Time, Leaf: "It"}
			if m := leafRE.FindStringSubmatch(c.Name); m != nil {
				res.Leaf = m[1]
				res.Name = strings.TrimSpace(c.Name[len(m[0]):])
			}
			switch {
			case c.Failure != nil:
				res.Outcome = Failed
				res.FirstLine = firstLine(c.Failure)
			case c.Error != nil:
				res.Outcome = Failed
				res.FirstLine = firstLine(c.Error)
			case c.Skipped != nil:
				// ginkgo writes message="skipped" for specs filtered out by
				// --focus/--skip, and "skipped - <reason>" when the spec
				// skipped itself at run time.
				msg := strings.TrimSpace(c.Skipped.Message)
				if msg == "" || msg == "skipped" {
					res.Outcome = NotRun
				} else {
					res.Outcome = Skipped
					res.FirstLine = strings.TrimPrefix(msg, "skipped - ")
					res.FirstLine = oneLine(res.FirstLine)
				}
			case c.Status == "pending":
				res.Outcome = NotRun
			default:
				res.Outcome = Passed
			}
			out = append(out, res)
		}
	}
	return out, nil
}

// ReadJUnitFile is ReadJUnit on a file.
func ReadJUnitFile(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening JUnit report: %w", err)
	}
	defer f.Close()
	res, err := ReadJUnit(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

var markerRE = regexp.MustCompile(`^\[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED|ABORTED)\]\s*`)

// firstLine returns the first meaningful line of a failure: the message
// attribute when present, else the first non-empty line of the description
// without ginkgo's "[FAILED]" marker.
func firstLine(m *junitMessage) string {
	if s := strings.TrimSpace(m.Message); s != "" {
		return oneLine(s)
	}
	sc := bufio.NewScanner(strings.NewReader(m.Body))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		l = strings.TrimSpace(markerRE.ReplaceAllString(l, ""))
		if l != "" {
			return oneLine(l)
		}
	}
	if m.Type != "" {
		return m.Type
	}
	return "(no message)"
}

const maxLine = 240

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > maxLine {
		s = s[:maxLine-3] + "..."
	}
	return s
}

// Test is one entry of the official conformance list.
type Test struct {
	Codename string
	SIG      string // e.g. sig-node, from the codename's first [..]
	Class    string // api-only, pods, networking, kubectl ("" if unknown)
	File     string
}

// ReadBaseline reads conformance.yaml (a list of {testname, codename, file, ...}).
func ReadBaseline(path string) ([]Test, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading conformance baseline: %w", err)
	}
	var raw []struct {
		Codename string `yaml:"codename"`
		File     string `yaml:"file"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parsing conformance baseline %s: %w", path, err)
	}
	tests := make([]Test, 0, len(raw))
	for _, r := range raw {
		tests = append(tests, Test{Codename: r.Codename, SIG: SIGOf(r.Codename), File: r.File})
	}
	return tests, nil
}

// ReadClasses reads the TSV (header codename, area, class, ...) into
// codename -> class.
func ReadClasses(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading test classes: %w", err)
	}
	defer f.Close()
	classes := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		cols := strings.Split(sc.Text(), "\t")
		if line == 1 {
			if len(cols) < 3 || cols[0] != "codename" || cols[2] != "class" {
				return nil, fmt.Errorf("%s: header must start with codename, area, class; got %q", path, sc.Text())
			}
			continue
		}
		if len(cols) < 3 {
			return nil, fmt.Errorf("%s:%d: want at least 3 tab-separated columns, got %d", path, line, len(cols))
		}
		classes[cols[0]] = cols[2]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return classes, nil
}

var sigRE = regexp.MustCompile(`^\[(sig-[a-z0-9-]+)\]`)

// SIGOf returns the SIG of a codename ("sig-node"), or "other".
func SIGOf(codename string) string {
	if m := sigRE.FindStringSubmatch(codename); m != nil {
		return m[1]
	}
	return "other"
}

// Counts per group.
type Counts struct {
	Total, Passed, Failed, Skipped, NotRun int
}

func (c *Counts) add(o Outcome) {
	c.Total++
	switch o {
	case Passed:
		c.Passed++
	case Failed:
		c.Failed++
	case Skipped:
		c.Skipped++
	default:
		c.NotRun++
	}
}

// Failure is one failing test with its first error line.
type Failure struct {
	Name, SIG, Class, FirstLine string
	Conformance                 bool
}

// Summary of a run against the baseline.
type Summary struct {
	Baseline    int               // tests in the official list
	Conformance Counts            // the official tests, by outcome
	BySIG       map[string]Counts // the official tests per SIG
	ByClass     map[string]Counts // the official tests per class
	Other       Counts            // specs that ran but are not in the list (FOCUS beyond conformance)
	Failures    []Failure         // conformance failures first, then others, each sorted by name
	SuiteErrors []Failure         // failed setup/teardown nodes (BeforeSuite, ...)
}

// Summarize matches JUnit results against the baseline. Tests of the baseline
// that are absent from the JUnit count as not run.
func Summarize(results []Result, baseline []Test, classes map[string]string) Summary {
	s := Summary{Baseline: len(baseline), BySIG: map[string]Counts{}, ByClass: map[string]Counts{}}
	byName := map[string]Result{}
	for _, r := range results {
		if r.Leaf != "It" {
			if r.Outcome == Failed {
				s.SuiteErrors = append(s.SuiteErrors, Failure{Name: "[" + r.Leaf + "] " + r.Name, FirstLine: r.FirstLine})
			}
			continue
		}
		// A spec retried by --flake-attempts appears once per attempt in
		// some reporters; keep the last.
		byName[r.Name] = r
	}
	inBaseline := map[string]bool{}
	for _, t := range baseline {
		inBaseline[t.Codename] = true
		r, ok := byName[t.Codename]
		o := NotRun
		if ok {
			o = r.Outcome
		}
		class := classes[t.Codename]
		if class == "" {
			class = "unclassified"
		}
		s.Conformance.add(o)
		c := s.BySIG[t.SIG]
		c.add(o)
		s.BySIG[t.SIG] = c
		c = s.ByClass[class]
		c.add(o)
		s.ByClass[class] = c
		if o == Failed {
			s.Failures = append(s.Failures, Failure{Name: t.Codename, SIG: t.SIG, Class: class, FirstLine: r.FirstLine, Conformance: true})
		}
	}
	var others []Failure
	for name, r := range byName {
		if inBaseline[name] || r.Outcome == NotRun {
			continue
		}
		s.Other.add(r.Outcome)
		if r.Outcome == Failed {
			others = append(others, Failure{Name: name, SIG: SIGOf(name), FirstLine: r.FirstLine})
		}
	}
	sort.Slice(s.Failures, func(i, j int) bool { return s.Failures[i].Name < s.Failures[j].Name })
	sort.Slice(others, func(i, j int) bool { return others[i].Name < others[j].Name })
	s.Failures = append(s.Failures, others...)
	return s
}

// Ran is the number of tests that ran (passed, failed or skipped themselves).
func (c Counts) Ran() int { return c.Passed + c.Failed + c.Skipped }

// Write prints the summary as text.
func (s Summary) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	c := s.Conformance
	for _, f := range s.SuiteErrors {
		if strings.Contains(f.Name, "BeforeSuite") {
			fmt.Fprintf(bw, "SUITE SETUP FAILED, so no test ran: %s: %s\n", f.Name, f.FirstLine)
		}
	}
	fmt.Fprintf(bw, "Conformance v1.37: %d tests in the official list; ran %d: %d passed, %d failed, %d skipped; %d not run\n",
		s.Baseline, c.Ran(), c.Passed, c.Failed, c.Skipped, c.NotRun)
	if s.Other.Total > 0 {
		fmt.Fprintf(bw, "Other specs (not in the official list): ran %d: %d passed, %d failed, %d skipped\n",
			s.Other.Ran(), s.Other.Passed, s.Other.Failed, s.Other.Skipped)
	}
	writeTable(bw, "By SIG", s.BySIG)
	writeTable(bw, "By class (testdata/conformance-1.37.tsv)", s.ByClass)
	if len(s.SuiteErrors) > 0 {
		fmt.Fprintf(bw, "\nSuite setup/teardown failures (%d):\n", len(s.SuiteErrors))
		for _, f := range s.SuiteErrors {
			fmt.Fprintf(bw, "ERROR %s: %s\n", f.Name, f.FirstLine)
		}
	}
	if len(s.Failures) > 0 {
		fmt.Fprintf(bw, "\nFailures (%d):\n", len(s.Failures))
		for _, f := range s.Failures {
			tag := f.Class
			if !f.Conformance {
				tag = "not-conformance"
			}
			fmt.Fprintf(bw, "FAIL [%s] %s: %s\n", tag, f.Name, f.FirstLine)
		}
	}
	return bw.Flush()
}

func writeTable(w io.Writer, title string, m map[string]Counts) {
	keys := make([]string, 0, len(m))
	width := len("total")
	for k := range m {
		keys = append(keys, k)
		if len(k) > width {
			width = len(k)
		}
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "\n%s:\n", title)
	fmt.Fprintf(w, "  %-*s %6s %6s %6s %7s %7s\n", width, "", "total", "passed", "failed", "skipped", "not-run")
	var t Counts
	for _, k := range keys {
		c := m[k]
		fmt.Fprintf(w, "  %-*s %6d %6d %6d %7d %7d\n", width, k, c.Total, c.Passed, c.Failed, c.Skipped, c.NotRun)
		t.Total += c.Total
		t.Passed += c.Passed
		t.Failed += c.Failed
		t.Skipped += c.Skipped
		t.NotRun += c.NotRun
	}
	fmt.Fprintf(w, "  %-*s %6d %6d %6d %7d %7d\n", width, "total", t.Total, t.Passed, t.Failed, t.Skipped, t.NotRun)
}
