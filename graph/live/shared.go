package live

import (
	"sync"
	"time"
)

// Shared reads each announced row once per gateway process however many
// subscriptions it goes to: the first subscriber of a change loads it, the
// others wait for and share that result. Entries live a few seconds.
type Shared struct {
	mu      sync.Mutex
	entries map[string]*sharedEntry
	swept   time.Time
}

type sharedEntry struct {
	once sync.Once
	val  any
	err  error
	at   time.Time
}

// NewShared returns an empty cache.
func NewShared() *Shared { return &Shared{entries: map[string]*sharedEntry{}} }

// Load returns load()'s result for change c, calling load once per change.
func (s *Shared) Load(c Change, load func() (any, error)) (any, error) {
	if c.At == "" {
		return load()
	}
	key := c.Kind + "|" + c.ID + "|" + c.At
	now := time.Now()
	s.mu.Lock()
	if now.Sub(s.swept) > time.Second {
		for k, e := range s.entries {
			if now.Sub(e.at) > 5*time.Second {
				delete(s.entries, k)
			}
		}
		s.swept = now
	}
	e, ok := s.entries[key]
	if !ok {
		e = &sharedEntry{at: now}
		s.entries[key] = e
	}
	s.mu.Unlock()
	e.once.Do(func() { e.val, e.err = load() })
	return e.val, e.err
}
