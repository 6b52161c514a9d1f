package printer

import (
	"sync"

	"github.com/posd/posd/internal/printer/escposdecode"
)

// SimState is the scriptable state of a simulated printer.
type SimState struct {
	PaperNearEnd bool
	PaperEnd     bool
	CoverOpen    bool
	Offline      bool
	CutterError  bool
	DrawerHigh   bool
	Silent       bool // answers nothing at all (a dead or wrong device)
}

func (s SimState) ready() bool { return !s.PaperEnd && !s.CoverOpen && !s.Offline && !s.CutterError }

// SimJob is one job a simulated printer received.
type SimJob struct {
	Bytes       []byte
	Confirmed   bool // ended with GS r 1, answered once printed
	Interrupted bool // the connection dropped before the job ended
}

// Sim is the core of the virtual and fake printers: it takes the byte
// stream a host sends, answers DLE EOT n, GS r 1 and GS a like an Epson TM
// printer in the scripted state, and splits the stream into jobs (a job
// starts at ESC @ and ends at GS r 1, at the next ESC @ or when the
// connection drops). A GS r 1 that arrives while the printer cannot print
// is answered when the state is fixed, as a real printer holds the job.
// Safe for concurrent use.
type Sim struct {
	mu       sync.Mutex
	state    SimState
	dec      escposdecode.Decoder
	pending  []byte // bytes of an incomplete command
	job      []byte
	held     []SimJob // confirmed jobs waiting for the printer to be ready
	jobs     []SimJob
	asb      bool
	failLeft int // >0: bytes accepted before an unplug
	polls    int // DLE EOT requests received
	// changeLeft > 0: bytes before the state becomes change (paper running
	// out in the middle of a job)
	changeLeft int
	change     SimState
	onJob      func(SimJob)
}

// NewSim returns an all-clear printer; onJob (may be nil) is called, under
// no lock, for every finished job.
func NewSim(onJob func(SimJob)) *Sim { return &Sim{onJob: onJob} }

// State returns the current state.
func (s *Sim) State() SimState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// SetState changes the state and returns what the printer sends because of
// it: an ASB when automatic status is on, and the replies of held jobs when
// the printer becomes ready.
func (s *Sim) SetState(st SimState) []byte {
	s.mu.Lock()
	s.state = st
	var out []byte
	if s.asb && !st.Silent {
		out = append(out, s.asbBytes()...)
	}
	var done []SimJob
	if st.ready() && len(s.held) > 0 {
		done = s.held
		s.held = nil
		for range done {
			if !st.Silent {
				out = append(out, s.confirmByte())
			}
		}
		s.jobs = append(s.jobs, done...)
	}
	onJob := s.onJob
	s.mu.Unlock()
	if onJob != nil {
		for _, j := range done {
			onJob(j)
		}
	}
	return out
}

// FailAfter makes the printer "unplug" after n more bytes of job data
// (n <= 0: never); writes that start with DLE (status requests) do not count.
func (s *Sim) FailAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft = n
}

// ChangeAfter switches the state to st once n more bytes of job data have
// arrived (as FailAfter counts them); the chunk that crosses the mark is
// processed in the new state.
func (s *Sim) ChangeAfter(n int, st SimState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changeLeft, s.change = n, st
}

// StatusRequests counts the DLE EOT requests received so far.
func (s *Sim) StatusRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// Jobs returns the finished jobs so far.
func (s *Sim) Jobs() []SimJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SimJob(nil), s.jobs...)
}

// Write takes bytes from the host. It returns how many were accepted (fewer
// than len(p) only when a FailAfter budget ran out: the transport must then
// drop the connection), the printer's replies, and whether to unplug.
func (s *Sim) Write(p []byte) (accepted int, reply []byte, unplug bool) {
	s.mu.Lock()
	accepted = len(p)
	// Budgets count job data only: a write that starts with DLE is a
	// real-time status request between jobs, whose timing tests do not control.
	jobData := len(p) > 0 && p[0] != 0x10
	if jobData && s.failLeft > 0 && len(p) >= s.failLeft {
		accepted = s.failLeft
		s.failLeft = 0
		unplug = true
	} else if jobData && s.failLeft > 0 {
		s.failLeft -= len(p)
	}
	if jobData && s.changeLeft > 0 {
		if accepted >= s.changeLeft {
			s.changeLeft = 0
			s.state = s.change
		} else {
			s.changeLeft -= accepted
		}
	}
	s.pending = append(s.pending, p[:accepted]...)
	cmds, n := s.dec.Prefix(s.pending)
	var done []SimJob
	for _, c := range cmds {
		switch c.Op {
		case "ESC @":
			if len(s.job) > 0 {
				done = append(done, SimJob{Bytes: s.job})
			}
			s.job = nil
		case "DLE EOT":
			s.polls++
			if !s.state.Silent {
				reply = append(reply, s.realTime(c.Args[0]))
			}
		case "GS a":
			s.asb = c.Args[0] != 0
			if s.asb && !s.state.Silent {
				reply = append(reply, s.asbBytes()...)
			}
		}
		if c.Op == "DLE EOT" || c.Op == "DLE ENQ" || c.Op == "DLE DC4" {
			continue // real-time commands are not part of the job
		}
		s.job = append(s.job, c.Raw...)
		if c.Op == "GS r" {
			j := SimJob{Bytes: s.job, Confirmed: true}
			s.job = nil
			if s.state.ready() {
				done = append(done, j)
				if !s.state.Silent {
					reply = append(reply, s.confirmByte())
				}
			} else {
				s.held = append(s.held, j)
			}
		}
	}
	s.pending = append(s.pending[:0], s.pending[n:]...)
	s.jobs = append(s.jobs, done...)
	onJob := s.onJob
	s.mu.Unlock()
	if onJob != nil {
		for _, j := range done {
			onJob(j)
		}
	}
	return accepted, reply, unplug
}

// Disconnect ends the connection: a job in progress is recorded as
// interrupted (it never reached paper in full), held jobs are lost as on a
// power cycle.
func (s *Sim) Disconnect() {
	s.mu.Lock()
	var done []SimJob
	if len(s.job) > 0 || len(s.pending) > 0 {
		done = append(done, SimJob{Bytes: append(s.job, s.pending...), Interrupted: true})
	}
	for _, h := range s.held {
		h.Interrupted = true
		h.Confirmed = false
		done = append(done, h)
	}
	s.job, s.pending, s.held = nil, nil, nil
	s.dec = escposdecode.Decoder{}
	s.asb = false
	s.jobs = append(s.jobs, done...)
	onJob := s.onJob
	s.mu.Unlock()
	if onJob != nil {
		for _, j := range done {
			onJob(j)
		}
	}
}

func (s *Sim) realTime(n byte) byte {
	st := s.state
	b := byte(0x12)
	switch n {
	case 1:
		if st.DrawerHigh {
			b |= 0x04
		}
		if !st.ready() {
			b |= 0x08
		}
	case 2:
		if st.CoverOpen {
			b |= 0x04
		}
		if st.PaperEnd {
			b |= 0x20
		}
		if st.CutterError {
			b |= 0x40
		}
	case 3:
		if st.CutterError {
			b |= 0x08
		}
	case 4:
		if st.PaperNearEnd || st.PaperEnd {
			b |= 0x0C
		}
		if st.PaperEnd {
			b |= 0x60
		}
	}
	return b
}

func (s *Sim) confirmByte() byte {
	var b byte
	if s.state.PaperNearEnd {
		b |= 0x03
	}
	return b
}

func (s *Sim) asbBytes() []byte {
	st := s.state
	b := []byte{0x10, 0, 0, 0}
	if st.DrawerHigh {
		b[0] |= 0x04
	}
	if !st.ready() {
		b[0] |= 0x08
	}
	if st.CoverOpen {
		b[0] |= 0x20
	}
	if st.CutterError {
		b[1] |= 0x08
	}
	if st.PaperNearEnd {
		b[2] |= 0x03
	}
	if st.PaperEnd {
		b[2] |= 0x0C
	}
	return b
}
