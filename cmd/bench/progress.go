package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bench-dev/bench/internal/experiment"
	"github.com/bench-dev/bench/internal/scenario"
)

// progressMode is how `bench run` reports while it runs.
type progressMode int

const (
	progressPlain progressMode = iota // one line per event and per finished step (a log, a pipe)
	progressLive                      // the same, plus a status line redrawn in place (a terminal)
	progressQuiet                     // nothing; errors and the results folder are printed elsewhere
)

// progressModeFor picks live progress when w is a terminal: a character device, as isatty would
// say, without a dependency for it. (/dev/null is one too; live lines into it harm no one.)
func progressModeFor(w io.Writer, quiet bool) progressMode {
	if quiet {
		return progressQuiet
	}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return progressLive
		}
	}
	return progressPlain
}

// runPlan is what a run will do, to estimate how long it has left.
type runPlan struct {
	groups        int           // worker counts × stores × strategies × repetitions
	stepsPerGroup int           // fixed rates, or a search's max_steps
	search        bool          // stepsPerGroup is an upper bound
	stepTime      time.Duration // warm-up + duration of one step
	strategies    bool          // more than one strategy: name it on the status line
}

func planOf(sc *scenario.Scenario) runPlan {
	p := runPlan{
		groups:   len(sc.Workers) * max(1, len(sc.Target.StoreList())) * max(1, len(sc.Balancer.Strategies)) * max(1, sc.Load.Repeat),
		stepTime: sc.Load.Warmup + sc.Load.Duration,
	}
	p.strategies = len(sc.Balancer.Strategies) > 1
	if s := sc.Load.Search; s != nil {
		p.search = true
		p.stepsPerGroup = s.MaxSteps
		if p.stepsPerGroup <= 0 {
			p.stepsPerGroup = scenario.DefaultMaxSteps
		}
	} else {
		p.stepsPerGroup = len(sc.Load.Rates)
	}
	return p
}

// progress prints what a run is doing. Its methods are called from the experiment's goroutine
// (events, finished steps) and from the load's results loop (live snapshots), hence the lock.
type progress struct {
	w     io.Writer
	mode  progressMode
	plan  runPlan
	now   func() time.Time
	start time.Time

	width int // the terminal's columns in live mode; 0 if unknown

	mu        sync.Mutex
	group     groupKey         // the worker count, store, strategy and repetition being measured
	inGroup   map[groupKey]int // steps finished in each group started (searches that take turns come back to one)
	status    int              // width of the status line on screen; 0 when none is drawn
	lastSnap  experiment.Progress
	haveSnap  bool
	finishedN int // steps finished in the whole run
}

type groupKey struct {
	workers         int
	strategy, store string
	rep             int
}

func keyOf(st experiment.Step) groupKey {
	return groupKey{st.Workers, st.Strategy, st.Store, st.Rep}
}

func newProgress(w io.Writer, mode progressMode, plan runPlan, now func() time.Time) *progress {
	p := &progress{w: w, mode: mode, plan: plan, now: now, start: now()}
	if f, ok := w.(*os.File); ok && mode == progressLive {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
			p.width = int(ws.Col)
		}
	}
	return p
}

// Event prints a one-line message ("starting 2 worker(s)").
func (p *progress) Event(msg string) {
	p.println("bench: " + msg)
}

// Step prints a finished step's line and moves the estimate on.
func (p *progress) Step(st experiment.Step) {
	p.mu.Lock()
	p.enter(keyOf(st))
	p.inGroup[p.group]++
	p.finishedN++
	p.haveSnap = false
	p.mu.Unlock()
	p.println(progressLine(st))
}

// Update redraws the status line from a live snapshot; only in live mode.
func (p *progress) Update(s experiment.Progress) {
	if p.mode != progressLive {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enter(keyOf(s.Step))
	p.lastSnap, p.haveSnap = s, true
	p.draw(p.statusLine(s))
}

// Done removes the status line, before the summary is printed.
func (p *progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// enter notes the group a step belongs to. A group seen before is taken up again (searches that
// take turns); the groups before are counted as they were, however few steps their search took.
func (p *progress) enter(k groupKey) {
	if p.inGroup == nil {
		p.inGroup = map[groupKey]int{}
	}
	if _, ok := p.inGroup[k]; !ok {
		p.inGroup[k] = 0
	}
	p.group = k
}

// groups is how many groups have started; current how many steps of the current one finished.
func (p *progress) groups() int  { return len(p.inGroup) }
func (p *progress) current() int { return p.inGroup[p.group] }

// println prints a permanent line, above the status line in live mode.
func (p *progress) println(line string) {
	if p.mode == progressQuiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintln(p.w, line)
	if p.haveSnap {
		p.draw(p.statusLine(p.lastSnap))
	}
}

// clear blanks the status line: carriage return, erase to the end of the line.
func (p *progress) clear() {
	if p.status > 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.status = 0
	}
}

// draw replaces the status line with line, cut to the terminal's width: a line that wraps cannot
// be redrawn with \r.
func (p *progress) draw(line string) {
	if r := []rune(line); p.width > 1 && len(r) >= p.width {
		line = string(r[:p.width-1])
	}
	fmt.Fprint(p.w, "\r"+line+"\x1b[K")
	p.status = len(line)
}

// remaining estimates the time left in the run while a step has run for elapsed: the current step's
// rest, the rest of its group, and every group not started, each step warm-up + duration. A search
// is counted at max_steps, so its estimate is an upper bound. Starting workers is not counted.
func (p *progress) remaining(elapsed time.Duration) time.Duration {
	pl := p.plan
	groupsLeft := max(0, pl.groups-max(p.groups(), 1))
	steps := max(0, pl.stepsPerGroup-p.current()-1) + groupsLeft*pl.stepsPerGroup
	return time.Duration(steps)*pl.stepTime + max(0, pl.stepTime-elapsed)
}

// statusLine is the live line, kept short enough for an 80-column terminal (a wrapped line
// cannot be redrawn with \r): "N=2 step 5/≤30 400 rps 1.5s/2.5s live 398 rps p99 3.21ms · 0:42 elapsed, ≤1:10 left".
func (p *progress) statusLine(s experiment.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "N=%d", s.Step.Workers)
	if p.plan.strategies {
		b.WriteString(" " + s.Step.Strategy)
	}
	bound := "~"
	if p.plan.search {
		bound = "≤"
	}
	fmt.Fprintf(&b, " step %d/%s%d %s rps ", s.Row, bound, p.totalSteps(), rateText(s.Step.Offered))
	if s.Warmup {
		fmt.Fprintf(&b, "warm-up %s", secs(s.Elapsed))
	} else {
		fmt.Fprintf(&b, "%s/%s", secs(s.Elapsed), secs(p.plan.stepTime))
	}
	fmt.Fprintf(&b, " live %.0f rps", s.Rate)
	if s.P99 > 0 {
		fmt.Fprintf(&b, " p99 %s", s.P99.Round(10*time.Microsecond))
	}
	fmt.Fprintf(&b, " · %s elapsed, %s%s left", clock(p.now().Sub(p.start)), bound, clock(p.remaining(s.Elapsed)))
	return b.String()
}

// totalSteps is the run's step count as far as it is known: the steps of finished groups as they
// were, and the plan for the rest (a search's max_steps), so that the total shrinks as searches
// end early.
func (p *progress) totalSteps() int {
	started := max(p.groups(), 1)
	inFinished := p.finishedN - p.current()
	// Never fewer than the steps seen, whatever the plan said.
	return max(inFinished+max(0, p.plan.groups-started+1)*p.plan.stepsPerGroup, p.finishedN+1)
}

// secs prints a step-scale duration: "1.5s".
func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// clock prints a run-scale duration: "0:42", "1:02:03".
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

func rateText(r float64) string {
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", r), "0"), ".")
}
