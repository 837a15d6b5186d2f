package store

// Woken is how many waiters the feed has woken for a change they wanted
// (or a gap); Waiting how many wait now.
func (f *Feed) Woken() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.woken
}

func (f *Feed) Waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}
